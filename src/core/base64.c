/*
 * base64: RFC 4648 §4 encoding and a lenient decoder (see base64.h).
 */
#include <stdint.h>

#include "base64.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

int
base64_encode(struct buf *out, const void *in, size_t len, int line)
{
	const unsigned char *p = in;
	size_t n = base64_encoded_len(len), col = 0, i, k;
	char q[4], *o;

	if (buf_reserve(out, n + (line > 0 ? n / (size_t)line * 2 : 0)) == -1)
		return -1;
	/* The room is reserved: write straight into it. */
	o = out->p + out->len;
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? b64[v & 63] : '=';
		/* Break per character, so a line length that is not a
		 * multiple of 4 is honoured too (RFC 2045 §6.8 uses 76). */
		for (k = 0; k < 4; k++) {
			if (line > 0 && col == (size_t)line) {
				*o++ = '\r';
				*o++ = '\n';
				col = 0;
			}
			*o++ = q[k];
			col++;
		}
	}
	out->len = (size_t)(o - out->p);
	out->p[out->len] = '\0';
	return 0;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(struct buf *out, const char *in, size_t len)
{
	uint32_t acc = 0;
	size_t i, n = 0, pad = 0;
	unsigned char o[3];
	int v;

	if (buf_reserve(out, len / 4 * 3 + 3) == -1)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64val(c)) < 0)
			return -1; /* data after padding, or not base64 */
		acc = acc << 6 | (uint32_t)v;
		if (++n % 4 == 0) {
			o[0] = (unsigned char)(acc >> 16);
			o[1] = (unsigned char)(acc >> 8);
			o[2] = (unsigned char)acc;
			buf_append(out, o, 3);
			acc = 0;
		}
	}
	switch (n % 4) {
	case 0:
		if (pad)
			return -1;
		break;
	case 1:
		return -1;
	case 2:
		if (pad && pad != 2)
			return -1;
		o[0] = (unsigned char)(acc >> 4);
		buf_append(out, o, 1);
		break;
	case 3:
		if (pad && pad != 1)
			return -1;
		o[0] = (unsigned char)(acc >> 10);
		o[1] = (unsigned char)(acc >> 2);
		buf_append(out, o, 2);
		break;
	}
	return 0;
}
