/*
 * ceiling: the smallest libmicrohttpd server that reads a POST body and
 * answers a fixed JSON reply, with the same thread set-up as pigeon. It
 * is the ceiling pigeon's send path is measured against (bench/run.sh).
 */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char reply[] =
    "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":{"
    "\"delivered\":[],\"permanent_bounces\":[],\"queued\":[\"a@example.net\"],"
    "\"message_id\":\"<0123456789abcdefghijklmnopqrstuvwxyz@example.com>\","
    "\"suppressed_recipients\":[]}}";

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **state)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (*state == NULL) {
		*state = (void *)1;
		return MHD_YES;
	}
	if (*size) {
		*size = 0; /* the body is read and dropped */
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(sizeof(reply) - 1, (void *)reply,
	    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int
main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 8599;
	unsigned threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, handle, NULL,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "ceiling: cannot listen on %d\n", port);
		return 1;
	}
	fprintf(stderr, "ceiling: listening on 127.0.0.1:%d\n", port);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
