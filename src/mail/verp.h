/*
 * verp: the local part of the envelope sender pigeon delivers with (SPEC
 * §6.3), "b.<msg>.<rcpt>.<tag>@<return_path_domain>". It names the
 * message and the recipient row an attempt was for, so that a bounce
 * arriving later at the return-path domain (SPEC §7.1) can be matched to
 * them; the tag, an HMAC under a per-install key, keeps anyone else from
 * naming rows in a forged bounce. Pure: no store, no key management.
 */
#ifndef PIGEON_MAIL_VERP_H
#define PIGEON_MAIL_VERP_H

#include <stddef.h>
#include <stdint.h>

/* RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
#define VERP_LOCAL_MAX 64
/* Shortest key accepted: a short key would make tags guessable. */
#define VERP_KEY_MIN 16
/* The key pigeon makes and keeps (state_dir/verp.key): the delivery
 * routes sign with it, the inbound listener checks with it. */
#define VERP_KEY_FILE "verp.key"
#define VERP_KEY_LEN 32

/*
 * Writes the local part for (msg_row, rcpt_row), both >= 0, into out
 * (outlen >= VERP_LOCAL_MAX + 1 always suffices), NUL-terminated:
 * "b.", the two ids as base32 digits (RFC 4648 §7 "base32hex" alphabet,
 * lowercase, no leading zeros), then the first 8 base32 characters of
 * HMAC-SHA256(key, msg_row || rcpt_row as 8-octet big-endian numbers),
 * joined by dots: a dot-atom (RFC 5322 §3.2.3) of at most 38 octets.
 * 0, or -1 (a negative id, keylen < VERP_KEY_MIN, outlen too small).
 */
int verp_encode(int64_t msg_row, int64_t rcpt_row, const unsigned char *key,
                size_t keylen, char *out, size_t outlen);

/*
 * Reads local[0..len) (in any case: some MTAs change it) as verp_encode
 * writes it under key. 0 with *msg_row and *rcpt_row set, or -1 when it
 * is not of that form or its tag is not the ids' (a forged or damaged
 * address); the outputs are untouched then.
 */
int verp_decode(const char *local, size_t len, const unsigned char *key,
                size_t keylen, int64_t *msg_row, int64_t *rcpt_row);

#endif
