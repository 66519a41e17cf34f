/*
 * addr: RFC 5321 mailbox syntax (with RFC 6531 UTF-8 local parts) for the
 * addresses clients send: a bare addr-spec, never "Name <a@b>".
 */
#ifndef PIGEON_MAIL_ADDR_H
#define PIGEON_MAIL_ADDR_H

#include <stddef.h>

#include "../core/arena.h"
#include "message.h"

/*
 * Parses s[0..len) as an addr-spec and fills out->address, local, domain,
 * ascii, utf8_local (strings from the arena; out->name is left alone).
 * Rules: dot-atom or quoted-string local part (UTF-8 allowed), ≤ 64 octets;
 * domain of LDH labels, or an IDN converted to A-labels with libidn2, or an
 * address literal [1.2.3.4] / [IPv6:...]; whole address ≤ 254 octets; no
 * CR, LF, NUL, no whitespace outside quotes; valid UTF-8.
 * Returns 0, or -1 with *why set to a static human reason such as
 * "is not a valid address" or "local part is longer than 64 octets".
 */
int addr_parse(struct arena *a, const char *s, size_t len, struct mailbox *out,
               const char **why);

/*
 * The domain d[0..len) of an address by the rule of addr_parse: the
 * same bytes allowed, LDH labels or an IDN; *out is its form in
 * mailbox.domain (lowercase A-labels, in the arena), so two spellings of
 * one name compare equal. 0, or -1 with *why as addr_parse's.
 */
int addr_domain(struct arena *a, const char *d, size_t len, const char **out,
                const char **why);

/* 1 when s looks like "Name <addr>" (so the caller can answer 10001). */
int addr_is_name_addr(const char *s, size_t len);

#endif
