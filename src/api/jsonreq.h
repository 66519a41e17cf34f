/*
 * jsonreq: the JSON request reader of the REST send routes (SPEC §3.1,
 * §3.2, §4). It turns a request body into a struct message (send) or a
 * struct raw_req (send_raw), applying every schema rule (→ 10001) and
 * content rule (→ 10202), schema errors first (SPEC §2.2 order). It knows
 * nothing of HTTP, auth or sending domains.
 */
#ifndef PIGEON_API_JSONREQ_H
#define PIGEON_API_JSONREQ_H

#include <stddef.h>

#include "../core/arena.h"
#include "../mail/message.h"
#include "envelope.h"

#define JSONREQ_MAX_DEPTH 16

struct json_object;

/* The body of send_raw (SPEC §4). */
struct raw_req {
	struct mailbox from;
	struct mailbox *rcpts; /* de-duplicated, 1..MAX_RECIPIENTS */
	size_t nrcpts;
	const char *mime; /* borrowed from the JSON tree */
	size_t mime_len;
};

/*
 * Parses body[0..len) with json-c in strict mode, with UTF-8 validation
 * and a depth cap. On success *root is the tree (the caller frees it with
 * json_object_put after the last use of anything borrowed from it) and 0
 * is returned; else -1 with err set (10001).
 */
int jsonreq_parse(const char *body, size_t len, struct json_object **root,
                  struct api_error *err);

/*
 * Reads the send body of SPEC §3.1 into *m. Strings are borrowed from the
 * tree or allocated in a; to/cc/bcc are de-duplicated across the three
 * lists (first occurrence kept). 0, or -1 with err.
 */
int jsonreq_send(struct arena *a, struct json_object *root, struct message *m,
                 struct api_error *err);

/* Reads the send_raw body of SPEC §4 into *r. 0, or -1 with err. */
int jsonreq_send_raw(struct arena *a, struct json_object *root,
                     struct raw_req *r, struct api_error *err);

#endif
