/*
 * ceiling: the smallest libmicrohttpd server that reads a POST body and
 * answers a fixed JSON reply, with pigeon's thread set-up and daemon
 * flags (src/api/http.c: one polling thread per core, suspend/resume
 * allowed). It listens on 127.0.0.1 only. It is the ceiling pigeon's
 * send path is measured against (bench/run.sh).
 *
 * usage: ceiling [port]
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The size and shape of pigeon's answer to one recipient. */
static const char reply[] =
    "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":{"
    "\"delivered\":[],\"permanent_bounces\":[],\"queued\":[\"a@example.net\"],"
    "\"message_id\":\"<0123456789abcdefghijklmnopqrstuvwxyz@example.com>\","
    "\"suppressed_recipients\":[]}}";

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *data, size_t *size, void **state)
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
	struct sockaddr_in sin;
	struct MHD_Daemon *d;
	long threads;
	sigset_t set;
	int port, sig;

	port = argc > 1 ? atoi(argv[1]) : 8599;
	if ((threads = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		threads = 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG,
	    (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sin, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)threads, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "ceiling: cannot listen on 127.0.0.1:%d\n",
		        port);
		return 1;
	}
	fprintf(stderr, "ceiling: listening on 127.0.0.1:%d, %ld threads\n",
	        port, threads);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
