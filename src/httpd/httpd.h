/*
 * httpd: the HTTP/1.1 server of the REST API, on libevent. A few threads,
 * each with its own event base, accept from one listening socket; each
 * connection lives on the thread that accepted it. Heads are read by
 * head_parse (strict RFC 9112), bodies by Content-Length only, and every
 * phase has a deadline: the header section (header_timeout, also the
 * idle time between kept-alive requests), the body (request_timeout from
 * the head's first byte), and each write (write_timeout without
 * progress). Connections are capped in all and per client address (an
 * IPv6 client counts by its /64), and a client past a cap is answered 503
 * and closed rather than left in silence.
 *
 * The application sees a request as four calls on its connection's
 * thread (struct httpd_ops) and answers it with httpd_respond, then or
 * later from any thread. A connection whose request awaits its answer
 * reads nothing and has no deadline: the application must answer every
 * request it was given.
 */
#ifndef PIGEON_HTTPD_HTTPD_H
#define PIGEON_HTTPD_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "head.h"

struct httpd;
struct httpd_conn;
struct httpd_resp;

struct httpd_ops {
	/*
	 * A request head is in: rc is HEAD_OK, or HEAD_ERROR with h->status
	 * and h->why (then the application must answer, and the connection
	 * is closed after it). h stays valid until done(). Returns the
	 * request's context for the calls below, or NULL (out of memory:
	 * the connection is closed). Unless answered here, the server then
	 * reads h->content_length bytes of body.
	 */
	void *(*head)(void *cls, struct httpd_conn *c, const struct head *h,
	              int rc);
	/* n bytes of body: 0, or -1 when the application answered (the
	 * rest is not read and the connection is closed after the answer). */
	int (*body)(void *ctx, const char *p, size_t n);
	/* The body is whole: answer now or later. */
	void (*end)(void *ctx);
	/* The request is over: its answer written, or (aborted) the
	 * connection lost first. The server forgets ctx. */
	void (*done)(void *ctx, int aborted);
};

struct httpd_config {
	int fd;           /* a listening socket, owned by the server */
	unsigned threads; /* 0: one per core */
	unsigned max_conns, max_per_ip; /* max_per_ip 0: no cap */
	int64_t header_timeout_ms, request_timeout_ms, write_timeout_ms;
	size_t max_head; /* the most bytes a request head may take */
	/* the body (JSON) of the 503 answered past a cap */
	const char *busy_body;
	const struct httpd_ops *ops;
	void *cls;
};

/* Starts the threads: the server, or NULL with err. cfg->fd is the
 * server's either way. */
struct httpd *httpd_start(const struct httpd_config *cfg, char *err,
                          size_t errlen);
/* Stops accepting: the listening socket is closed, new clients are
 * refused by the system at once. Requests in flight go on. */
void httpd_quiesce(struct httpd *s);
/* Stops the threads and closes every connection (requests cut off get
 * done(aborted)); call it once no request awaits its answer. */
void httpd_stop(struct httpd *s);

struct sockaddr_storage;
/* The key the per-address cap counts a client by: an IPv4 address as it
 * is (also when it reaches an IPv6 socket as ::ffff:a.b.c.d), an IPv6
 * one by its /64, since one host is given a whole /64. */
void httpd_addr_key(const struct sockaddr_storage *ss, unsigned char key[16]);
/* The number of threads serving. */
unsigned httpd_threads(const struct httpd *s);
/* The peer's address as text ("127.0.0.1", "::1"). */
const char *httpd_conn_peer(const struct httpd_conn *c);

/* A stream's reader: up to max bytes at pos into buf, *got set (0 only
 * at the end); 0, or -1 on failure (the connection is then closed short
 * of its Content-Length). On the connection's thread. */
typedef int httpd_read_fn(void *cls, uint64_t pos, char *buf, size_t max,
                          size_t *got);
typedef void httpd_free_fn(void *cls);

/* A response with status and no body yet. NULL when out of memory. */
struct httpd_resp *httpd_resp_new(int status);
void httpd_resp_free(struct httpd_resp *r); /* accepts NULL */
/* Adds a header field: 0, or -1 (out of memory, or a CR/LF in it). */
int httpd_resp_header(struct httpd_resp *r, const char *name,
                      const char *value);
/* The body: p (malloc'd, n bytes) is taken over. */
void httpd_resp_body(struct httpd_resp *r, char *p, size_t n);
/* The body, size bytes read as the client takes them; fr(cls) runs when
 * the response is freed. */
void httpd_resp_stream(struct httpd_resp *r, uint64_t size, httpd_read_fn *read,
                       httpd_free_fn *fr, void *cls);
/* Closes the connection once r is written (Connection: close). */
void httpd_resp_close(struct httpd_resp *r);
int httpd_resp_status(const struct httpd_resp *r);

/* Answers c's request with r (taken over), once: from a call of
 * httpd_ops on c's thread, or later from any thread. */
void httpd_respond(struct httpd_conn *c, struct httpd_resp *r);

#endif
