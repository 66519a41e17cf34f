/*
 * fuzz_report: report_parse() on arbitrary bytes. Nothing may crash, read
 * outside the input or leak; what it says must hold together: a DSN has
 * 1..REPORT_MAX_RCPTS recipients, each with an address, a known action and
 * a status of class 2, 4 or 5; an ARF report has a lowercase Feedback-Type;
 * a malformed one has a reason and OTHER or MALFORMED carry no fields; no
 * value passes REPORT_MAX_VALUE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/arena.h"
#include "../src/mail/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_value(const char *s)
{
	if (s != NULL && strlen(s) > REPORT_MAX_VALUE)
		abort();
}

static void
check(const struct report *r, const char *why)
{
	size_t i;

	switch (r->kind) {
	case REPORT_DSN:
		if (r->nrcpt == 0 || r->nrcpt > REPORT_MAX_RCPTS)
			abort();
		for (i = 0; i < r->nrcpt; i++) {
			const struct report_rcpt *rc = &r->rcpt[i];

			if (rc->final_recipient == NULL ||
			    *rc->final_recipient == '\0' ||
			    strcmp(report_action_name(rc->action), "unknown") ==
			        0 ||
			    strchr("245", rc->status[0]) == NULL ||
			    rc->status[1] != '.')
				abort();
			check_value(rc->diagnostic_code);
			check_value(rc->remote_mta);
		}
		break;
	case REPORT_ARF:
		if (r->feedback_type == NULL || *r->feedback_type == '\0')
			abort();
		for (i = 0; r->feedback_type[i] != '\0'; i++)
			if (r->feedback_type[i] >= 'A' &&
			    r->feedback_type[i] <= 'Z')
				abort();
		if (r->noriginal_rcpt_to > REPORT_MAX_RCPTS ||
		    r->nreported_domain > REPORT_MAX_RCPTS)
			abort();
		check_value(r->user_agent);
		break;
	case REPORT_MALFORMED:
		if (why[0] == '\0')
			abort();
		/* fall through */
	case REPORT_OTHER:
		if (r->nrcpt != 0 || r->rcpt != NULL ||
		    r->feedback_type != NULL || r->reporting_mta != NULL ||
		    r->original_message_id != NULL)
			abort();
		break;
	default:
		abort();
	}
	check_value(r->reporting_mta);
	check_value(r->arrival_date);
	check_value(r->original_message_id);
	check_value(r->original_to);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a;
	struct report r;
	char why[256], *copy;

	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if ((a = arena_new(0)) != NULL) {
		why[0] = '\0';
		if (report_parse(a, copy, size, &r, why, sizeof(why)) == 0)
			check(&r, why);
		arena_free(a);
	}
	free(copy);
	return 0;
}
