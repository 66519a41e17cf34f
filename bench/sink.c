/*
 * sink: an SMTP server for benchmarks that accepts everything, like
 * Postfix's smtp-sink, and can offer CHUNKING (RFC 3030), which
 * smtp-sink cannot. One thread, epoll, non-blocking sockets; replies to
 * pipelined commands go out in one write per burst of input.
 *
 *   sink [-c] [-d DIR] PORT
 *     -c      offer CHUNKING (BDAT) besides DATA
 *     -d DIR  write each message to its own file in DIR, closed at the
 *             end of its transaction (the "." of DATA, or BDAT LAST)
 *
 * Listens on 127.0.0.1 only. Runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum mode { CMD, DATA, BDAT };

struct conn {
	int fd;
	enum mode mode;
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outcap;
	char *msg; /* the message of the transaction */
	size_t msglen, msgcap;
	size_t bdat_left;
	int bdat_last;
	int quit;
	int want_out; /* EPOLLOUT is on */
};

static int chunking;
static const char *dir;
static unsigned long seq;

static void
grow(char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 4096;
	if ((*p = realloc(*p, *cap)) == NULL) {
		perror("sink: realloc");
		exit(1);
	}
}

static void
put(struct conn *c, const char *s)
{
	size_t n = strlen(s);

	grow(&c->out, &c->outcap, c->outlen + n);
	memcpy(c->out + c->outlen, s, n);
	c->outlen += n;
}

static void
keep(struct conn *c, const char *p, size_t n)
{
	grow(&c->msg, &c->msgcap, c->msglen + n);
	memcpy(c->msg + c->msglen, p, n);
	c->msglen += n;
}

/* The end of a transaction: the message to its file, then the 250. */
static void
done(struct conn *c)
{
	char path[4096];
	int fd;

	if (dir != NULL) {
		snprintf(path, sizeof(path), "%s/%d.%lu", dir, (int)getpid(),
		         ++seq);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 ||
		    write(fd, c->msg, c->msglen) != (ssize_t)c->msglen)
			perror("sink: dump");
		if (fd != -1)
			close(fd);
	}
	c->msglen = 0;
	put(c, "250 2.0.0 Ok: queued\r\n");
}

static void
command(struct conn *c, char *line)
{
	char *end;

	if (strncasecmp(line, "EHLO", 4) == 0) {
		put(c, "250-sink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n"
		       "250-8BITMIME\r\n250-SMTPUTF8\r\n");
		if (chunking)
			put(c, "250-CHUNKING\r\n");
		put(c, "250 ENHANCEDSTATUSCODES\r\n");
	} else if (strncasecmp(line, "HELO", 4) == 0) {
		put(c, "250 sink\r\n");
	} else if (strncasecmp(line, "MAIL", 4) == 0) {
		c->msglen = 0;
		put(c, "250 2.1.0 Ok\r\n");
	} else if (strncasecmp(line, "RCPT", 4) == 0) {
		put(c, "250 2.1.5 Ok\r\n");
	} else if (strncasecmp(line, "DATA", 4) == 0) {
		c->mode = DATA;
		put(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
	} else if (chunking && strncasecmp(line, "BDAT ", 5) == 0) {
		c->bdat_left = strtoul(line + 5, &end, 10);
		while (*end == ' ')
			end++;
		c->bdat_last = strncasecmp(end, "LAST", 4) == 0;
		c->mode = BDAT;
	} else if (strncasecmp(line, "RSET", 4) == 0 ||
	           strncasecmp(line, "NOOP", 4) == 0) {
		c->msglen = 0;
		put(c, "250 2.0.0 Ok\r\n");
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		put(c, "221 2.0.0 Bye\r\n");
		c->quit = 1;
	} else {
		put(c, "502 5.5.2 Error: command not recognized\r\n");
	}
}

/* Consumes what it can of the input; what is left waits for more. */
static void
feed(struct conn *c)
{
	size_t pos = 0, n;
	char *p, *nl;

	while (pos < c->inlen && !c->quit) {
		p = c->in + pos;
		n = c->inlen - pos;
		if (c->mode == BDAT) {
			size_t take = n < c->bdat_left ? n : c->bdat_left;

			keep(c, p, take);
			pos += take;
			c->bdat_left -= take;
			if (c->bdat_left > 0)
				break;
			c->mode = CMD;
			if (c->bdat_last)
				done(c);
			else
				put(c, "250 2.0.0 Ok: chunk\r\n");
			continue;
		}
		if ((nl = memchr(p, '\n', n)) == NULL)
			break;
		n = (size_t)(nl - p) + 1;
		pos += n;
		if (c->mode == DATA) {
			if (n == 3 && p[0] == '.' && p[1] == '\r') {
				c->mode = CMD;
				done(c);
			} else if (p[0] == '.') {
				keep(c, p + 1, n - 1);
			} else {
				keep(c, p, n);
			}
			continue;
		}
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		command(c, p);
	}
	memmove(c->in, c->in + pos, c->inlen - pos);
	c->inlen -= pos;
}

static int
flush(struct conn *c)
{
	ssize_t w;
	size_t off = 0;

	while (off < c->outlen) {
		w = write(c->fd, c->out + off, c->outlen - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			break;
		if (w == -1)
			return -1;
		off += (size_t)w;
	}
	memmove(c->out, c->out + off, c->outlen - off);
	c->outlen -= off;
	return 0;
}

static void
drop(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c->msg);
	free(c);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event ev, evs[256];
	int opt, ls, ep, one = 1, i, n;

	while ((opt = getopt(argc, argv, "cd:")) != -1) {
		if (opt == 'c')
			chunking = 1;
		else if (opt == 'd')
			dir = optarg;
		else
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	sa.sin_port = htons((unsigned short)atoi(argv[optind]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ls, 1024) == -1 || (ep = epoll_create1(0)) == -1) {
		perror("sink: listen");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r;

			if (c == NULL) {
				int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);

				if (fd == -1)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				           sizeof(one));
				if ((c = calloc(1, sizeof(*c))) == NULL)
					return 1;
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				put(c, "220 sink ESMTP\r\n");
				if (flush(c) == -1)
					drop(ep, c);
				continue;
			}
			for (;;) {
				grow(&c->in, &c->incap, c->inlen + 65536);
				r = read(c->fd, c->in + c->inlen, 65536);
				if (r > 0) {
					c->inlen += (size_t)r;
					if (r < 65536)
						break;
					continue;
				}
				if (r == -1 &&
				    (errno == EAGAIN || errno == EINTR))
					break;
				c->quit = 1; /* EOF or error */
				break;
			}
			feed(c);
			if (flush(c) == -1 || c->quit) {
				drop(ep, c);
				continue;
			}
			if ((c->outlen > 0) != c->want_out) {
				c->want_out = c->outlen > 0;
				ev.events =
				    EPOLLIN | (c->want_out ? EPOLLOUT : 0);
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
	}
usage:
	fprintf(stderr, "usage: sink [-c] [-d DIR] PORT\n");
	return 2;
}
