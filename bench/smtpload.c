/*
 * smtpload: a load generator for SMTP submission with TLS, for
 * bench/smtp.sh. Each of -c threads holds one session at a time: connect,
 * implicit TLS (-m tls) or STARTTLS (-m starttls) or neither (-m plain),
 * EHLO, AUTH PLAIN when -a user:pass, then up to -r messages (MAIL, RCPT,
 * DATA, the message, the dot: each answer awaited, no pipelining), QUIT;
 * until -n messages were sent in all or -T seconds passed. Full TLS
 * handshakes (no session resumption): the server's cost per session is
 * the point.
 *
 * Prints one line: messages accepted (a 250 to the dot), refused, the
 * seconds, messages/s, the time from MAIL to the 250 of the dot (p50, p99,
 * max ms) and this process's CPU seconds (so a saturated client shows).
 *
 * -I N: opens N sessions one after another (TLS and EHLO done), prints
 * "idle N" and holds them -H seconds (for a server's memory per session),
 * then QUITs them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

enum mode { PLAIN, TLS, STARTTLS };

static struct {
	const char *host;
	int port;
	enum mode mode;
	int conns;
	long total;
	int per_session;
	const char *auth; /* "user:pass" or NULL */
	const char *from, *to;
	int size;
	double seconds;
	int idle;
	int hold;
} opt = {"127.0.0.1",
         0,
         STARTTLS,
         16,
         10000,
         50,
         NULL,
         "bench@example.com",
         "customer@example.net",
         1000,
         60,
         0,
         30};

static SSL_CTX *ctx;
static char *message; /* the DATA payload, dot-stuffed, ending CRLF.CRLF */
static size_t message_len;
static char auth_line[512];
static atomic_long next_msg, accepted, refused;
static atomic_int stop;
static double t_start;
static double *lat; /* per accepted message, seconds */

struct conn {
	int fd;
	SSL *ssl;
	char buf[4096];
	size_t off, len;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
io_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = c->ssl != NULL ? SSL_write(c->ssl, p, (int)n)
		                           : write(c->fd, p, n);
		if (w <= 0) {
			if (c->ssl == NULL && w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One reply (multi-line ones whole): its code, or -1. */
static int
reply(struct conn *c)
{
	char line[1024];
	size_t ll = 0;

	for (;;) {
		if (c->off == c->len) {
			ssize_t r =
			    c->ssl != NULL
			        ? SSL_read(c->ssl, c->buf, sizeof(c->buf))
			        : read(c->fd, c->buf, sizeof(c->buf));
			if (r <= 0)
				return -1;
			c->off = 0;
			c->len = (size_t)r;
		}
		char ch = c->buf[c->off++];
		if (ll < sizeof(line) - 1)
			line[ll++] = ch;
		if (ch != '\n')
			continue;
		line[ll] = '\0';
		if (ll >= 4 && line[3] == '-') {
			ll = 0;
			continue;
		}
		return ll >= 3 ? atoi(line) : -1;
	}
}

static int
cmd(struct conn *c, const char *line, int want)
{
	char b[600];
	int n = snprintf(b, sizeof(b), "%s\r\n", line);

	if (io_write(c, b, (size_t)n) == -1)
		return -1;
	return reply(c) == want ? 0 : -1;
}

static int
tls_start(struct conn *c)
{
	if ((c->ssl = SSL_new(ctx)) == NULL)
		return -1;
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Connected, greeted, EHLO'd (after TLS), authenticated: 0 or -1. */
static int
session_open(struct conn *c)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(c, 0, sizeof(*c));
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)opt.port);
	inet_pton(AF_INET, opt.host, &sa.sin_addr);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -1;
	if (opt.mode == TLS && tls_start(c) == -1)
		return -1;
	if (reply(c) != 220 || cmd(c, "EHLO load.bench", 250) == -1)
		return -1;
	if (opt.mode == STARTTLS &&
	    (cmd(c, "STARTTLS", 220) == -1 || tls_start(c) == -1 ||
	     cmd(c, "EHLO load.bench", 250) == -1))
		return -1;
	if (opt.auth != NULL && cmd(c, auth_line, 235) == -1)
		return -1;
	return 0;
}

static int
send_one(struct conn *c)
{
	char b[600];

	snprintf(b, sizeof(b), "MAIL FROM:<%s>", opt.from);
	if (cmd(c, b, 250) == -1)
		return -1;
	snprintf(b, sizeof(b), "RCPT TO:<%s>", opt.to);
	if (cmd(c, b, 250) == -1 || cmd(c, "DATA", 354) == -1 ||
	    io_write(c, message, message_len) == -1)
		return -1;
	return reply(c) == 250 ? 0 : -1;
}

static void *
worker(void *arg)
{
	struct conn c;

	(void)arg;
	while (!atomic_load(&stop)) {
		if (session_open(&c) == -1) {
			atomic_fetch_add(&refused, 1);
			conn_close(&c);
			usleep(10000);
			continue;
		}
		for (int k = 0; k < opt.per_session; k++) {
			long i = atomic_fetch_add(&next_msg, 1);
			double t0;

			if (i >= opt.total || now() - t_start > opt.seconds) {
				atomic_store(&stop, 1);
				break;
			}
			t0 = now();
			if (send_one(&c) == -1) {
				atomic_fetch_add(&refused, 1);
				break;
			}
			lat[atomic_fetch_add(&accepted, 1)] = now() - t0;
		}
		cmd(&c, "QUIT", 221);
		conn_close(&c);
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
build(void)
{
	const char *line = "Your order has shipped and is on its way. ";
	size_t cap = (size_t)opt.size + 1024, n = 0;

	message = malloc(cap);
	n += (size_t)snprintf(message + n, cap - n,
	                      "From: Shop <%s>\r\nTo: %s\r\n"
	                      "Subject: Your order #1234 has shipped\r\n"
	                      "X-Order: 1234\r\n\r\n",
	                      opt.from, opt.to);
	while (n < (size_t)opt.size)
		n += (size_t)snprintf(message + n, cap - n, "%s\r\n", line);
	n += (size_t)snprintf(message + n, cap - n, ".\r\n");
	message_len = n;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: smtpload -p PORT [-h HOST] [-m tls|starttls|plain] "
	        "[-c CONNS] [-n MESSAGES] [-r PER_SESSION] [-a USER:PASS] "
	        "[-f FROM] [-t TO] [-s BYTES] [-T SECONDS] [-I IDLE -H "
	        "HOLD]\n");
	exit(2);
}

static int
idle_run(void)
{
	struct conn *cs = calloc((size_t)opt.idle, sizeof(*cs));
	int n = 0;

	for (; n < opt.idle; n++)
		if (session_open(&cs[n]) == -1) {
			fprintf(stderr, "smtpload: session %d failed\n", n + 1);
			break;
		}
	printf("idle %d\n", n);
	fflush(stdout);
	sleep((unsigned)opt.hold);
	for (int i = 0; i < n; i++) {
		cmd(&cs[i], "QUIT", 221);
		conn_close(&cs[i]);
	}
	free(cs);
	return n == opt.idle ? 0 : 1;
}

int
main(int argc, char **argv)
{
	pthread_t *th;
	struct rusage ru;
	double took;
	long n;
	int ch;

	while ((ch = getopt(argc, argv, "h:p:m:c:n:r:a:f:t:s:T:I:H:")) != -1)
		switch (ch) {
		case 'h':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 'm':
			opt.mode = !strcmp(optarg, "tls")     ? TLS
			           : !strcmp(optarg, "plain") ? PLAIN
			                                      : STARTTLS;
			break;
		case 'c':
			opt.conns = atoi(optarg);
			break;
		case 'n':
			opt.total = atol(optarg);
			break;
		case 'r':
			opt.per_session = atoi(optarg);
			break;
		case 'a':
			opt.auth = optarg;
			break;
		case 'f':
			opt.from = optarg;
			break;
		case 't':
			opt.to = optarg;
			break;
		case 's':
			opt.size = atoi(optarg);
			break;
		case 'T':
			opt.seconds = atof(optarg);
			break;
		case 'I':
			opt.idle = atoi(optarg);
			break;
		case 'H':
			opt.hold = atoi(optarg);
			break;
		default:
			usage();
		}
	if (opt.port <= 0 || opt.conns <= 0 || opt.total <= 0 ||
	    opt.per_session <= 0)
		usage();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return 1;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (opt.auth != NULL) {
		const char *colon = strchr(opt.auth, ':');
		unsigned char plain[300];
		char b64[420];
		size_t ul, pl;

		if (colon == NULL)
			usage();
		ul = (size_t)(colon - opt.auth);
		pl = strlen(colon + 1);
		if (ul + pl + 2 > sizeof(plain))
			usage();
		plain[0] = '\0';
		memcpy(plain + 1, opt.auth, ul);
		plain[1 + ul] = '\0';
		memcpy(plain + 2 + ul, colon + 1, pl);
		EVP_EncodeBlock((unsigned char *)b64, plain,
		                (int)(ul + pl + 2));
		snprintf(auth_line, sizeof(auth_line), "AUTH PLAIN %s", b64);
	}
	build();
	if (opt.idle > 0)
		return idle_run();
	lat = calloc((size_t)opt.total + 1, sizeof(*lat));
	th = calloc((size_t)opt.conns, sizeof(*th));
	t_start = now();
	for (int i = 0; i < opt.conns; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < opt.conns; i++)
		pthread_join(th[i], NULL);
	took = now() - t_start;
	n = atomic_load(&accepted);
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
	getrusage(RUSAGE_SELF, &ru);
	printf("accepted %ld refused %ld seconds %.2f per_s %.0f p50_ms %.1f "
	       "p99_ms %.1f max_ms %.1f client_cpu_s %.2f\n",
	       n, atomic_load(&refused), took, n / took,
	       n ? lat[n / 2] * 1e3 : 0, n ? lat[n * 99 / 100] * 1e3 : 0,
	       n ? lat[n - 1] * 1e3 : 0,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}
