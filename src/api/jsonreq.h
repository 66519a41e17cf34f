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
#include "../mail/limits.h"
#include "../mail/message.h"
#include "envelope.h"

/*
 * Bounds on a body's JSON, checked by jsonreq_scan before json-c builds a
 * tree: json-c spends about 800 bytes on an empty object, 150 on an empty
 * array and 70-90 on a number or a short string, so a body of "{}," costs
 * 265 times its size without them.
 *
 * JSONREQ_MAX_DEPTH: levels of values, the body's object the first and
 * a string or number the last, as json-c counts them (and refuses past
 * them with the same message). A send needs 4: the body, to, an address
 * object, its address.
 *
 * JSONREQ_SCHEMA_VALUES: the most JSON values a valid send body can use
 * with every limit at its maximum (SPEC §3.1, §3.2, §5):
 *   1                      the body's object
 *   2 * 3                  from and reply_to as {address, name}
 *   3                      subject, text, html
 *   3 + 3 * MAX_RECIPIENTS to, cc, bcc: arrays of {address, name}
 *   1 + 6 * MAX_ATTACHMENTS an array of {content, filename, type,
 *                          disposition, content_id}
 *   1 + MAX_HEADERS_TOTAL / 8  headers: the shortest header, "X-a" with
 *                          a one-byte value, counts 3 + 2 + 1 + 2 = 8
 *                          toward MAX_HEADERS_TOTAL
 * (a send_raw body needs fewer). JSONREQ_MAX_VALUES doubles it, for
 * repeated recipients (de-duplicated later) and the unknown fields an SDK
 * may add. The costliest tree within it, 5,625 members {} in one object,
 * takes json-c 5.3 MB: under the body cap, whatever the body.
 *
 * JSONREQ_MAX_ARRAY: elements of one array. The longest list the schema
 * allows is attachments (MAX_ATTACHMENTS, more than MAX_RECIPIENTS); four
 * times that, so that 101 attachments or 51 recipients, even repeated,
 * still get their own 10202 answer.
 */
#define JSONREQ_MAX_DEPTH 16
#define JSONREQ_SCHEMA_VALUES                                                  \
	(1 + 2 * 3 + 3 + 3 + 3 * MAX_RECIPIENTS + 1 + 6 * MAX_ATTACHMENTS +    \
	 1 + MAX_HEADERS_TOTAL / 8)
#define JSONREQ_MAX_VALUES 5626 /* 2 * JSONREQ_SCHEMA_VALUES */
#define JSONREQ_MAX_ARRAY 400   /* 4 * MAX_ATTACHMENTS */

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
 * One pass over body[0..len), before any tree is built: NULL when the
 * bounds above hold, else what was too much (a static string). It knows
 * JSON strings and their escapes (a bracket or a quote inside one is
 * not structure) and nothing more: the text need not be valid JSON.
 */
const char *jsonreq_scan(const char *body, size_t len);

/*
 * Checks body[0..len) with jsonreq_scan, then parses it with json-c in
 * strict mode, with UTF-8 validation and a depth cap. On success *root is
 * the tree (the caller frees it with json_object_put after the last use of
 * anything borrowed from it) and 0 is returned; else -1 with err set
 * (10001).
 */
int jsonreq_parse(const char *body, size_t len, struct json_object **root,
                  struct api_error *err);

/*
 * jsonreq_parse with the bounds of a list body (POST suppressions/bulk,
 * SPEC §8.1: up to 1,000 items of {email, expires_at, note, scope{type,
 * value}}, 7 values each): twice the values the longest valid list
 * uses, and arrays of up to twice its items, so 1,001 to 2,000 items
 * still get the handler's own answer. At most 14,010 values: json-c's
 * costliest tree within them, empty objects, takes about 11 MB.
 */
#define JSONREQ_LIST_MAX_VALUES 14010 /* 2 * (2 + 7 * 1000) + 6 */
#define JSONREQ_LIST_MAX_ARRAY 2000
int jsonreq_parse_list(const char *body, size_t len, struct json_object **root,
                       struct api_error *err);

/*
 * Reads the send body of SPEC §3.1 into *m. Strings are borrowed from the
 * tree or allocated in a; to/cc/bcc are de-duplicated across the three
 * lists (first occurrence kept). 0, or -1 with err.
 */
int jsonreq_send(struct arena *a, struct json_object *root, struct message *m,
                 struct api_error *err);

/* base + "/" + key as a JSON pointer (RFC 6901 §3: '~' → "~0", '/' →
 * "~1"), in a; base itself when out of memory. */
const char *jsonreq_pointer(struct arena *a, const char *base, const char *key);

/* Reads the send_raw body of SPEC §4 into *r. 0, or -1 with err. */
int jsonreq_send_raw(struct arena *a, struct json_object *root,
                     struct raw_req *r, struct api_error *err);

#endif
