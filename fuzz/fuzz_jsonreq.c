/*
 * fuzz_jsonreq: the JSON request reader (src/api/jsonreq.c) on arbitrary
 * bytes, as both a send and a send_raw body. It must never crash, leak
 * or read out of bounds, and an error must always carry a kind.
 */
#include <stdint.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "../src/api/jsonreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *root = NULL;
	struct api_error err;
	struct message m;
	struct raw_req r;
	struct arena *a;

	if (jsonreq_parse((const char *)data, size, &root, &err) == -1) {
		if (err.kind == AE_NONE)
			abort();
		return 0;
	}
	if ((a = arena_new(0)) == NULL)
		abort();
	if (jsonreq_send(a, root, &m, &err) == -1 && err.kind == AE_NONE)
		abort();
	if (jsonreq_send_raw(a, root, &r, &err) == -1 && err.kind == AE_NONE)
		abort();
	arena_free(a);
	json_object_put(root);
	return 0;
}
