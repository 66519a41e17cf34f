/*
 * ceiling_httpd: bench/ceiling.c on pigeon's own HTTP server (src/httpd)
 * instead of libmicrohttpd: the same fixed reply to any request, its body
 * read and dropped, one thread per core, 127.0.0.1 only. bench/run.sh
 * runs both, so the two fronts are measured in the same run.
 *
 * usage: ceiling_httpd [port]
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/httpd/httpd.h"

/* The size and shape of pigeon's answer to one recipient. */
static const char reply[] =
    "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":{"
    "\"delivered\":[],\"permanent_bounces\":[],\"queued\":[\"a@example.net\"],"
    "\"message_id\":\"<0123456789abcdefghijklmnopqrstuvwxyz@example.com>\","
    "\"suppressed_recipients\":[]}}";

static void *
on_head(void *cls, struct httpd_conn *c, const struct head *h, int rc)
{
	struct httpd_resp *r;

	if (rc != HEAD_OK && (r = httpd_resp_new(h->status)) != NULL) {
		httpd_resp_close(r);
		httpd_respond(c, r);
	}
	return c;
}

static int
on_body(void *ctx, const char *p, size_t n)
{
	return 0; /* the body is read and dropped */
}

static void
on_end(void *ctx)
{
	struct httpd_conn *c = ctx;
	struct httpd_resp *r;
	char *p;

	if ((r = httpd_resp_new(200)) == NULL ||
	    (p = malloc(sizeof(reply) - 1)) == NULL) {
		httpd_resp_free(r);
		httpd_respond(c, NULL);
		return;
	}
	memcpy(p, reply, sizeof(reply) - 1);
	httpd_resp_body(r, p, sizeof(reply) - 1);
	httpd_resp_header(r, "Content-Type", "application/json");
	httpd_respond(c, r);
}

static void
on_done(void *ctx, int aborted)
{
}

static const struct httpd_ops ops = {on_head, on_body, on_end, on_done};

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct httpd_config cfg;
	struct httpd *s;
	char err[256];
	sigset_t set;
	int port, sig, fd, on = 1;

	port = argc > 1 ? atoi(argv[1]) : 8598;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		fprintf(stderr,
		        "ceiling_httpd: cannot listen on "
		        "127.0.0.1:%d\n",
		        port);
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	cfg = (struct httpd_config){
	    .fd = fd,
	    .max_conns = 20000,
	    .max_per_ip = 0,
	    .header_timeout_ms = 10000,
	    .request_timeout_ms = 60000,
	    .write_timeout_ms = 30000,
	    .max_head = 32 * 1024,
	    .busy_body = "{}",
	    .ops = &ops,
	};
	if ((s = httpd_start(&cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ceiling_httpd: %s\n", err);
		return 1;
	}
	fprintf(stderr,
	        "ceiling_httpd: listening on 127.0.0.1:%d, %u threads\n", port,
	        httpd_threads(s));
	sigwait(&set, &sig);
	httpd_stop(s);
	return 0;
}
