/*
 * send: what send and send_raw share (send.c).
 */
#ifndef PIGEON_API_SEND_H
#define PIGEON_API_SEND_H

#include "../submit/submit.h"

struct req;

/* Answers submit's refusal se; an error about the client's raw message
 * points at message_pointer ("/mime_message"). */
int send_refused(struct req *rq, const struct submit_error *se,
                 const char *message_pointer);
/* Seals rq->sub and queues it with the connection suspended; the answer
 * comes from the queue's callback. Returns 0. */
int send_queue(struct req *rq);

#endif
