/*
 * msgid: Message-ID values of SPEC §3.3, "<36 alnum chars@domain>".
 */
#ifndef PIGEON_MAIL_MSGID_H
#define PIGEON_MAIL_MSGID_H

#include <stddef.h>

#define MSGID_MAX 300

/* Writes "<ID@domain>" to out (MSGID_MAX bytes). */
void msgid_new(char out[MSGID_MAX], const char *domain);

#endif
