/*
 * limits: every cap of the mail layer, named and kept together (SPEC §3-§5).
 */
#ifndef PIGEON_MAIL_LIMITS_H
#define PIGEON_MAIL_LIMITS_H

#define MAX_RECIPIENTS 50
#define MAX_MESSAGE_SIZE (5 * 1024 * 1024) /* built message, bytes */
#define MAX_SUBJECT_CHARS 998              /* characters, not bytes */
#define MAX_ATTACHMENTS 100
#define MAX_LOCAL_PART 64
#define MAX_ADDRESS 254
#define MAX_HEADER_NAME 100 /* X- headers */
#define MAX_HEADER_VALUE 2048
#define MAX_HEADERS_TOTAL 16384 /* sum of name+2+value+2 */
#define MAX_ALLOWLISTED_HEADERS 20
#define MAX_LINE 998 /* RFC 5322 §2.1.1 */
/* a structured header value's longest word: it must fold under MAX_LINE */
#define MAX_STRUCT_WORD 900
#define MESSAGE_ID_RANDOM 36

#endif
