/*
 * msgid: random Message-ID values (see msgid.h).
 */
#include <stdio.h>

#include "../core/random.h"
#include "limits.h"
#include "msgid.h"

void
msgid_new(char out[MSGID_MAX], const char *domain)
{
	char id[MESSAGE_ID_RANDOM + 1];

	random_alnum(id, MESSAGE_ID_RANDOM);
	snprintf(out, MSGID_MAX, "<%s@%s>", id, domain);
}
