/*
 * jsonw: JSON strings into a struct buf (see jsonw.h).
 */
#include <string.h>

#include "hex.h"
#include "jsonw.h"
#include "utf8.h"

int
jsonw_str(struct buf *out, const char *s, size_t n)
{
	size_t i, run;
	unsigned char c;

	if (buf_putc(out, '"') == -1)
		return -1;
	for (i = 0; i < n;) {
		for (run = i; run < n; run++) {
			c = (unsigned char)s[run];
			if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
				break;
		}
		if (run > i && buf_append(out, s + i, run - i) == -1)
			return -1;
		if ((i = run) == n)
			break;
		c = (unsigned char)s[i];
		if (c >= 0x80) {
			/* Valid UTF-8 as is; a broken or cut sequence (a
			 * client's bytes, a truncated message) as U+FFFD, so
			 * the body is always valid JSON text. */
			size_t k =
			    utf8_seq((const unsigned char *)s + i, n - i);
			if (k > 0 ? buf_append(out, s + i, k) == -1
			          : buf_append(out, "\\ufffd", 6) == -1)
				return -1;
			i += k > 0 ? k : 1;
			continue;
		}
		i++;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			if (buf_append(out, e, 2) == -1)
				return -1;
		} else if (c == '\n') {
			if (buf_append(out, "\\n", 2) == -1)
				return -1;
		} else if (c == '\r') {
			if (buf_append(out, "\\r", 2) == -1)
				return -1;
		} else if (c == '\t') {
			if (buf_append(out, "\\t", 2) == -1)
				return -1;
		} else {
			char e[6] = {'\\',
			             'u',
			             '0',
			             '0',
			             hex_lower[c >> 4],
			             hex_lower[c & 15]};
			if (buf_append(out, e, 6) == -1)
				return -1;
		}
	}
	return buf_putc(out, '"');
}

int
jsonw_cstr(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_puts(out, "null");
	return jsonw_str(out, s, strlen(s));
}
