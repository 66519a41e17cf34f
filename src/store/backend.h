/*
 * store backend: the table of operations a storage engine fills in. Only
 * store.c and the backends (sqlite.c; pg.c later) include this file; the
 * rest of pigeon sees store.h.
 */
#ifndef PIGEON_STORE_BACKEND_H
#define PIGEON_STORE_BACKEND_H

#include "store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *);
	int (*account_create)(struct store *, const struct account *);
	int (*account_update)(struct store *, const struct account *);
	int (*zone_create)(struct store *, const struct zone *);
	int (*domain_create)(struct store *, const struct domain *);
	int (*domain_update)(struct store *, const struct domain *);
	int (*token_create)(struct store *, const struct token *);
	int (*token_revoke)(struct store *, const char *);
	int (*account_get)(struct store *, const char *, struct account *);
	int (*zone_get)(struct store *, const char *, struct zone *);
	int (*domain_get_by_name)(struct store *, const char *,
	                          struct domain *);
	int (*account_list)(struct store *, struct account **, size_t *);
	int (*zone_list)(struct store *, const char *, struct zone **,
	                 size_t *);
	int (*domain_list)(struct store *, const char *, struct domain **,
	                   size_t *);
	int (*token_list)(struct store *, const char *, struct token **,
	                  size_t *);
	int (*generation)(struct store *, int64_t *);
	int (*begin)(struct store *);
	int (*commit)(struct store *);
	void (*rollback)(struct store *);
	int (*op_begin)(struct store *);
	int (*op_end)(struct store *, int);
	int (*message_insert)(struct store *, struct store_msg *);
	int (*outcome_apply)(struct store *, const struct store_outcome *);
	int (*lease_claim)(struct store *, int64_t, int64_t, size_t,
	                   store_pending_fn *, void *, int64_t *);
	int (*lease_renew)(struct store *, const int64_t *, size_t, int64_t);
	int (*lease_release)(struct store *);
	int (*rcpt_of)(struct store *, int64_t, int64_t *, enum rcpt_state *,
	               char *, size_t);
	int (*rcpt_find)(struct store *, int64_t, const char *, int64_t *,
	                 enum rcpt_state *);
	int (*rcpt_bounce)(struct store *, int64_t, const char *, int64_t);
	int (*message_status)(struct store *, const char *, const char *,
	                      struct msg_status *);
	int (*idem_get)(struct store *, const char *, const char *, int64_t,
	                char *, char *, struct msg_status *);
	int (*idem_purge)(struct store *, int64_t, int);
	int (*message_purge)(struct store *, int64_t, int);
	int (*message_body_drop)(struct store *, int64_t);
	int (*size)(struct store *, int64_t *, int64_t *);
	int (*message_reader_open)(struct store *, const char *, const char *,
	                           struct store_reader **, uint64_t *);
	int (*message_info)(struct store *, int64_t, struct msg_info *);
	int (*event_insert)(struct store *, const struct store_event *);
	int (*events_list)(struct store *, const char *, int64_t, int,
	                   const struct event_filter *, struct store_event **,
	                   size_t *);
	int (*suppression_upsert)(struct store *, const struct suppression *);
	int (*suppression_find)(struct store *, const char *, const char *,
	                        const char *, int64_t, struct suppression *);
	int (*suppression_purge)(struct store *, int64_t, int);
	int (*message_load)(struct store *, int64_t, struct store_msg_load *);
	int (*queue_list)(struct store *, int, int, struct queue_row **,
	                  size_t *, int64_t *);
	int (*queue_message)(struct store *, const char *, struct queue_msg *);
	int (*queue_retry)(struct store *, int64_t, const char *, int64_t,
	                   int64_t *);
	int (*request_add)(struct store *, const struct queue_req *);
	int (*request_last)(struct store *, int64_t *);
	int (*requests_after)(struct store *, int64_t, store_request_fn *,
	                      void *);
	int (*dest_put)(struct store *, const struct store_dest *);
	int (*dest_del)(struct store *, const char *, const char *);
	int (*dest_list)(struct store *, struct store_dest **, size_t *);
	/* SPEC §8.1 management */
	int (*suppression_add)(struct store *, const struct suppression *,
	                       struct suppression *, int *);
	int (*suppression_get)(struct store *, const char *, const char *,
	                       struct suppression *);
	int (*suppression_list)(struct store *, const char *, const char *, int,
	                        const struct supp_filter *,
	                        struct suppression **, size_t *);
	int (*suppression_edit)(struct store *, const char *, const char *,
	                        const struct supp_edit *);
	int (*suppression_delete)(struct store *, const char *, const char *);
	int (*usage_put)(struct store *, const char *, int64_t, int64_t);
	int (*usage_day)(struct store *, int64_t, store_usage_fn *, void *);
	int (*usage_purge)(struct store *, int64_t);
	int (*domain_get)(struct store *, const char *, struct domain *);
	int (*domain_delete)(struct store *, const char *);
	int (*message_list)(struct store *, const char *, int64_t, int,
	                    const char *, struct msg_summary **, size_t *);
	/* webhooks (SPEC §6.5) */
	int (*webhook_create)(struct store *, const struct webhook *);
	int (*webhook_list)(struct store *, const char *, struct webhook **,
	                    size_t *);
	int (*webhook_delete)(struct store *, const char *);
	int (*webhook_pump)(struct store *, const struct webhook *, int64_t,
	                    int, int64_t *);
	int (*webhook_due)(struct store *, const char *, int64_t, int,
	                   store_webhook_job_fn *, void *);
	int (*webhook_result)(struct store *, const char *, int64_t, int, int,
	                      int64_t, int, const char *, int64_t);
	int (*webhook_relax)(struct store *);
	int (*webhook_replay)(struct store *, const char *, int64_t, int64_t,
	                      const char *, int64_t, int64_t *);
};

/* Every backend's connection starts with this. */
struct store {
	const struct store_ops *ops;
	char err[512];
	char lease_owner[65]; /* store_lease_set; "" = none */
	int64_t lease_ms;
};

/* Every backend's message reader starts with this. */
struct store_reader {
	int (*read)(struct store_reader *, uint64_t, void *, size_t, size_t *);
	void (*close)(struct store_reader *);
	char err[512];
};

struct store *sqlite_store_open(const char *path, char *err, size_t errlen);

#endif
