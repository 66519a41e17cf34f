/*
 * store: where pigeon keeps accounts, domains, tokens, messages, one row
 * per recipient, the events of their state changes and the suppressions.
 * This header speaks in domain terms; a backend (sqlite.c now, PostgreSQL
 * later) fills a struct store_ops. No SQL above this line.
 *
 * A struct store is one connection: use it from one thread at a time. The
 * queue writer owns one, each reading thread opens its own, the admin CLI
 * opens one. All strings returned by getters are malloc'd into the struct
 * (free with the matching *_clear / *_list_free).
 */
#ifndef PIGEON_STORE_STORE_H
#define PIGEON_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define ID_LEN 32 /* ids are 32 lowercase hex chars */

/* Results besides 0 (done) and -1 (an error, its text in store_error). */
#define STORE_NOT_FOUND 1 /* a read found nothing */
#define STORE_EXISTS (-2) /* a create met a name or id already there */

enum perm {
	PERM_SEND = 1 << 0,
	PERM_READ = 1 << 1,
	PERM_MANAGE = 1 << 2,
};

enum rcpt_state {
	RCPT_QUEUED,    /* not tried yet */
	RCPT_DEFERRED,  /* tried, temporary failure, will retry */
	RCPT_DELIVERED, /* final */
	RCPT_BOUNCED,   /* final: 5xx */
	RCPT_FAILED,    /* final: gave up after max_queue_age */
	RCPT_SUPPRESSED /* final: dropped, on the suppression list */
};

const char *rcpt_state_name(enum rcpt_state s); /* "queued", ... */

struct account {
	char id[ID_LEN + 1];
	char *name;
	int entitled;        /* may use Email Sending (10105 when 0) */
	int sending_enabled; /* 10203 when 0 */
	int64_t rate;        /* send requests per second, 0 = unlimited */
	int64_t burst;
	int64_t daily_quota; /* recipients per UTC day, 0 = unlimited */
	int64_t created;     /* unix seconds */
};

struct zone {
	char id[ID_LEN + 1];
	char account_id[ID_LEN + 1];
	char *name;
	int64_t created;
};

struct domain {
	char id[ID_LEN + 1];
	char zone_id[ID_LEN + 1];
	char account_id[ID_LEN + 1];
	char *name;
	int enabled;
	char *selector;           /* the tenant fills "pigeon" when unset */
	char *return_path_domain; /* the tenant fills "bounces.<name>" */
	int drop_suppressed;
	int preview_enabled;
	char *rsa_pem; /* PKCS#8 PEM */
	char *ed_pem;  /* NULL when the domain has no Ed25519 key */
	int64_t created, modified;
};

struct token {
	char id[ID_LEN + 1];
	char account_id[ID_LEN + 1];
	char *name;
	char hash[65];   /* hex SHA-256 of the secret */
	unsigned perms;  /* enum perm bits */
	int64_t expires; /* unix seconds, 0 = never */
	int revoked;
	char *global_email; /* set for a global API key, else NULL */
	int64_t created;
};

/* A message and its recipients, as the queue writes them. Strings are
 * borrowed from the caller; ids are filled in by message_insert. */
struct store_rcpt {
	int64_t id;
	const char *address; /* envelope form (struct mailbox.ascii) */
	enum rcpt_state state;
};

struct store_msg {
	int64_t id;
	const char *account_id;
	const char *domain_id;
	const char *message_id; /* "<ID@domain>" */
	const char *mail_from;  /* sender address as given (for events) */
	const char *subject;    /* may be NULL */
	const char *raw;        /* the signed message, exactly as delivered */
	size_t raw_len;
	int preview;     /* keep for GET messages/{id} */
	int64_t created; /* unix ms; 0 = now (filled in by message_insert) */
	struct store_rcpt *rcpts;
	size_t nrcpts;
	/* SPEC §2.4 Idempotency-Key: when idem_key is set, message_insert
	 * also records (account_id, idem_key) → this message, in the same
	 * transaction; idem_hash is the hex SHA-256 of the request body,
	 * idem_endpoint the route it came to ("send", "send_raw"). */
	const char *idem_key;
	const char *idem_hash;
	const char *idem_endpoint;
	/* not stored: the sending domain's name and return_path_domain,
	 * for the delivery engine, which then need not read the message
	 * back for its first attempt (NULL: it does) */
	const char *domain_name;
	const char *return_path_domain;
};

#define STORE_ADDR_MAX 256 /* an envelope address, NUL included */

/* One recipient's new state after a delivery attempt, and what its
 * event (SPEC §6.5) says of the answer. */
struct store_outcome {
	int64_t rcpt_id;
	enum rcpt_state state;
	int attempts;
	int64_t last_attempt;         /* unix ms */
	int64_t next_attempt;         /* unix ms, 0 when final */
	const char *reply;            /* last SMTP reply text, may be NULL */
	char address[STORE_ADDR_MAX]; /* the recipient, envelope form */
	int64_t answered;             /* unix ms: when the answer came */
	int code;                     /* SMTP reply code, 0 without one */
	char enhanced[16];            /* "5.1.1", "" without one */
	char route[16];               /* the route that answered */
	/* dropped by the operator (pigeon queue drop): its event says so
	 * and it makes no automatic suppression (§6.4 is about answers) */
	int dropped;
	/* deferred, and its engine keeps it for a retry soon: the lease
	 * stays; else it ends with this outcome */
	int keep_lease;
	/* SPEC §7.1: a complaint (ARF) about the recipient, reply its
	 * feedback type: an event and a suppression, the state unchanged */
	int complaint;
};

/* A recipient row with its message's facts, for the scheduler. */
struct pending_rcpt {
	int64_t rcpt_id, msg_id;
	char *message_id; /* "<ID@domain>", for log lines */
	char *address;
	char *domain_id;
	enum rcpt_state state;
	int attempts;
	int64_t next_attempt, created_ms;
	int64_t lease_until; /* unix ms: the claim that gave it */
};

struct rcpt_status {
	int64_t id; /* recipients row id */
	char *address;
	enum rcpt_state state;
	int attempts;
	int64_t last_attempt, next_attempt; /* unix ms, 0 = none */
	char *reply;
};

struct msg_status {
	char *message_id;
	int64_t created; /* unix ms */
	struct rcpt_status *rcpts;
	size_t nrcpts;
};

/* What an event names of its message (SPEC §6.5). Strings malloc'd:
 * msg_info_clear. */
struct msg_info {
	int64_t id; /* messages row id */
	char account_id[ID_LEN + 1];
	char *message_id; /* "<ID@domain>" */
	char *mail_from;
	char *subject;   /* NULL when none */
	char *domain;    /* its sending domain's name, NULL when gone */
	int64_t created; /* unix ms */
};

/*
 * SPEC §6.5: one recipient state change, a row of the events outbox.
 * Written with the state change, in its transaction, once: payload is
 * the JSON served and POSTed as is. Strings are borrowed when written;
 * read back by store_events_list they are malloc'd (event_list_free).
 */
struct store_event {
	int64_t id; /* the cursor: increasing in commit order, never reused */
	char event_id[ID_LEN + 1]; /* payload.eventId, Pigeon-Event-Id */
	char account_id[ID_LEN + 1];
	int64_t msg_id, rcpt_id; /* messages and recipients row ids */
	const char *message_id;  /* "<ID@domain>" */
	const char *recipient;
	const char *type; /* "cf.email.sending.message.delivered", ... */
	int64_t created;  /* unix ms */
	const char *payload;
};

/* store_events_list's filters; NULL or 0 = any. */
struct event_filter {
	const char *type;
	const char *message_id; /* "<…>" or bare, as SPEC §8.3 */
	int64_t since;          /* unix ms: created at or after */
};

/* SPEC §8.1 reasons. */
enum supp_reason {
	SUPP_MANUAL,
	SUPP_HARD_BOUNCE,
	SUPP_SOFT_BOUNCE,
	SUPP_COMPLAINT,
	SUPP_POLICY, /* read_only */
};

const char *supp_reason_name(enum supp_reason r); /* "hard_bounce", ... */

/*
 * SPEC §8.1: one suppression entry. The scope is the account (scope_value
 * NULL) or one of its sending domains (scope_value its name). email has
 * its domain in lowercase A-labels and its local part as given (the
 * envelope form of struct mailbox.ascii). Read back, strings are
 * malloc'd: suppression_clear.
 */
struct suppression {
	char id[ID_LEN + 1];
	char account_id[ID_LEN + 1];
	char *email;
	enum supp_reason reason;
	char *scope_value;
	char *note;         /* NULL when none */
	int64_t created;    /* unix ms */
	int64_t expires_at; /* unix ms, 0 = never */
	int read_only;
};

struct store;

/*
 * Opens (creating if needed) the store at path — for SQLite a file — and
 * applies pending schema migrations. WAL, synchronous=FULL. NULL with a
 * reason in err on failure.
 */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *s);        /* accepts NULL */
const char *store_error(struct store *s); /* last error text */

/* Admin writes (CLI, dev bootstrap, later REST management). Each bumps
 * the generation so caches in a running server reload. 0, -1, or
 * STORE_EXISTS when a unique name/id already exists. */
int store_account_create(struct store *s, const struct account *a);
int store_account_update(struct store *s, const struct account *a);
int store_zone_create(struct store *s, const struct zone *z);
int store_domain_create(struct store *s, const struct domain *d);
int store_domain_update(struct store *s, const struct domain *d);
int store_token_create(struct store *s, const struct token *t);
int store_token_revoke(struct store *s, const char *token_id);

/* Admin reads. 0 found, STORE_NOT_FOUND, or -1. */
int store_account_get(struct store *s, const char *id, struct account *out);
int store_zone_get(struct store *s, const char *id, struct zone *out);
int store_domain_get_by_name(struct store *s, const char *name,
                             struct domain *out);
/* Lists: *out malloc'd array of *n entries; account_id NULL = all. */
int store_account_list(struct store *s, struct account **out, size_t *n);
int store_zone_list(struct store *s, const char *account_id, struct zone **out,
                    size_t *n);
int store_domain_list(struct store *s, const char *account_id,
                      struct domain **out, size_t *n);
int store_token_list(struct store *s, const char *account_id,
                     struct token **out, size_t *n);
void account_clear(struct account *a);
void zone_clear(struct zone *z);
void domain_clear(struct domain *d);
void token_clear(struct token *t);
void account_list_free(struct account *v, size_t n);
void zone_list_free(struct zone *v, size_t n);
void domain_list_free(struct domain *v, size_t n);
void token_list_free(struct token *v, size_t n);

/* A counter bumped by every admin write: a cache reloads when it moves. */
int store_generation(struct store *s, int64_t *out);

/* Queue writes, done by the writer thread inside one transaction. */
int store_begin(struct store *s);
int store_commit(struct store *s); /* durable when it returns 0 */
void store_rollback(struct store *s);
/* Inside a transaction, one operation that can fail alone: op_end(ok=0)
 * undoes what was done since op_begin and keeps the rest. 0 or -1 (then
 * the transaction itself is broken: roll it back). */
int store_op_begin(struct store *s);
int store_op_end(struct store *s, int ok);
int store_message_insert(struct store *s, struct store_msg *m);
/* Writes o's state, only while the recipient is still queued or
 * deferred: 0, STORE_NOT_FOUND (final already, e.g. dropped by the
 * operator while its attempt was in flight, or gone), -1. */
int store_outcome_apply(struct store *s, const struct store_outcome *o);

/*
 * Events and suppressions, written by the writer inside the outcome's
 * transaction (queue/event.c). message_info reads the message row id:
 * 0, STORE_NOT_FOUND (gone), -1. event_insert: 0 or -1.
 */
int store_message_info(struct store *s, int64_t msg_id, struct msg_info *out);
void msg_info_clear(struct msg_info *m);
int store_event_insert(struct store *s, const struct store_event *e);
/*
 * Adds sp, or meets the entry already there for its (account, email,
 * scope): an entry that has expired takes sp's reason, note, created
 * and expiry (its id stays); a live one keeps its id, reason and note
 * and takes the later of the two expiries
 * (never beats any date), and the reason too when both are automatic
 * (hard_bounce, soft_bounce) and sp's expiry wins. A read_only entry is
 * never changed. 0 or -1.
 */
int store_suppression_upsert(struct store *s, const struct suppression *sp);

/*
 * The events of account_id after the cursor after_id (0 = from the
 * start), oldest first, at most limit, matching f (may be NULL): *out a
 * malloc'd array of *n. 0 or -1.
 */
int store_events_list(struct store *s, const char *account_id, int64_t after_id,
                      int limit, const struct event_filter *f,
                      struct store_event **out, size_t *n);
void event_clear(struct store_event *e); /* one read back */
void event_list_free(struct store_event *v, size_t n);
/*
 * The entry that suppresses email for a send of account_id from the
 * sending domain domain_name (NULL: the account scope only) at now (unix
 * ms): one of the account's scope, else one of that domain's, not
 * expired. 0 found (out filled), STORE_NOT_FOUND, or -1.
 */
int store_suppression_find(struct store *s, const char *account_id,
                           const char *email, const char *domain_name,
                           int64_t now, struct suppression *out);
void suppression_clear(struct suppression *sp);
/* Deletes at most limit entries that expired before before_ms (unix
 * ms), inside the caller's transaction: the number deleted, or -1. */
int store_suppression_purge(struct store *s, int64_t before_ms, int limit);

/*
 * The shared queue (SPEC §6.3): a node tries a recipient only while it
 * holds it as a lease (owner, until), written in the store, so nodes
 * sharing one store never try a recipient at the same time, and a
 * node that dies frees its recipients when its leases run out.
 *
 * store_lease_set: the owner (a node_id) and length of this
 * connection's leases; queued recipients it inserts are leased to it
 * (store_message_insert), and an outcome ends the lease unless
 * keep_lease. Before any of the calls below.
 *
 * store_lease_claim, inside the caller's transaction: the queued, then
 * the deferred recipients due at or before horizon (unix ms) that no
 * lease holds at now, oldest first (the owner's own leases count as
 * held until a whole lease length after they ran out: its engine holds
 * them, and renews them late only when the store was slow), at most limit (a
 * message's due recipients are not split: the last one may pass it), leased
 * until now
 * + the lease length and given to cb (0 to go on, -1 out of memory;
 * the struct valid during the call). *next_freed: when a page was not
 * full, the earliest time another owner's lease on a recipient due by
 * horizon runs out (0: none, or the page was full). The number taken,
 * or -1.
 *
 * store_lease_renew: the leases of the recipient rows ids[n] that the
 * owner still holds last until `until`. 0 or -1.
 *
 * store_lease_release: every lease of the owner ends (a node starting
 * again: what its last run held is free). The number ended, or -1.
 */
typedef int store_pending_fn(void *arg, const struct pending_rcpt *r);
void store_lease_set(struct store *s, const char *owner, int64_t lease_ms);
int store_lease_claim(struct store *s, int64_t now, int64_t horizon,
                      size_t limit, store_pending_fn *cb, void *arg,
                      int64_t *next_freed);
int store_lease_renew(struct store *s, const int64_t *ids, size_t n,
                      int64_t until);
int store_lease_release(struct store *s);

/*
 * What comes back (SPEC §7.1). store_rcpt_of: recipients row rcpt_id,
 * its message row and state, its address into addr (addrlen bytes).
 * store_rcpt_find: the recipient of message row msg_id whose address
 * is addr (in any case), its row and state. Both 0,
 * STORE_NOT_FOUND, or -1. store_rcpt_bounce, inside the caller's
 * transaction: the recipient becomes bounced whatever its state but
 * bounced (an asynchronous bounce after its delivery), reply its last
 * reply; its lease and next attempt end. 0, STORE_NOT_FOUND (bounced
 * already, or gone), -1.
 */
int store_rcpt_of(struct store *s, int64_t rcpt_id, int64_t *msg_id,
                  enum rcpt_state *state, char *addr, size_t addrlen);
int store_rcpt_find(struct store *s, int64_t msg_id, const char *addr,
                    int64_t *rcpt_id, enum rcpt_state *state);
int store_rcpt_bounce(struct store *s, int64_t rcpt_id, const char *reply,
                      int64_t now);

/* 0, STORE_NOT_FOUND, or -1. */
int store_message_status(struct store *s, const char *account_id,
                         const char *message_id, struct msg_status *out);
void msg_status_clear(struct msg_status *st);

/* SPEC §2.4: the message recorded for an account's Idempotency-Key, if
 * recorded at or after since_ms (unix ms): its request body's hash in
 * body_hash, the endpoint it was recorded for in endpoint ("" for a
 * record older than the endpoint column, migration 4) and the message
 * with its recipients' current states in out. 0 found, STORE_NOT_FOUND
 * (none, or older), -1 error. */
#define STORE_ENDPOINT_MAX 32
int store_idem_get(struct store *s, const char *account_id, const char *key,
                   int64_t since_ms, char body_hash[65],
                   char endpoint[STORE_ENDPOINT_MAX], struct msg_status *out);
/* How long an Idempotency-Key holds (SPEC §2.4). */
#define STORE_IDEM_TTL_MS (24LL * 60 * 60 * 1000)
/* Deletes at most limit Idempotency-Key records created before
 * before_ms (unix ms), inside the caller's transaction: the number
 * deleted, or -1. */
int store_idem_purge(struct store *s, int64_t before_ms, int limit);

/*
 * message_retention: deletes at most limit messages created before
 * before_ms (unix ms) whose recipients are all final (none queued or
 * deferred), oldest first, with their recipients, their events and the
 * Idempotency-Key records naming them, inside the caller's transaction:
 * the number of messages deleted, or -1.
 */
int store_message_purge(struct store *s, int64_t before_ms, int limit);
/* Inside the caller's transaction, empties the stored bytes of message
 * row id when it was sent without preview (nothing can read them) and
 * its recipients are all final (nothing will deliver them): 1 emptied,
 * 0 kept, -1 error. Its status stays. */
int store_message_body_drop(struct store *s, int64_t id);
/* The store's size on disk and the part of it free for reuse, bytes. */
int store_size(struct store *s, int64_t *bytes, int64_t *free_bytes);

/*
 * GET messages/{id} streams the raw message in pieces instead of copying
 * it whole: a client that does not read would otherwise pin a copy of
 * every message it asked for.
 *
 * store_message_reader_open looks the message up on s (by account and
 * message_id "<…>", the newest one) and returns a
 * reader, with the message's size in *size. The reader borrows s's
 * connection: use it and close it on s's thread, while no transaction
 * of s is open, and before s is closed. It holds no read transaction
 * between reads: a client that never reads pins no snapshot. 0,
 * STORE_NOT_FOUND (unknown, or sent without preview), or -1 (text in
 * store_error(s)).
 *
 * store_message_read copies up to n bytes at off into buf, *got of them
 * (0 at the end): 0, or -1 when the message is gone (deleted since the
 * open) or the store failed; the text in store_reader_error(r).
 */
struct store_reader;
int store_message_reader_open(struct store *s, const char *account_id,
                              const char *message_id, struct store_reader **out,
                              uint64_t *size);
int store_message_read(struct store_reader *r, uint64_t off, void *buf,
                       size_t n, size_t *got);
const char *store_reader_error(struct store_reader *r);
void store_reader_close(struct store_reader *r); /* accepts NULL */

/* What a delivery attempt needs of a message: the signed bytes as
 * delivered (NUL-terminated, not counted), its sending domain's name and
 * return_path_domain ("" when the domain is gone). Owned: free with
 * store_msg_load_clear. */
struct store_msg_load {
	char *raw;
	size_t raw_len;
	char *domain;
	char *return_path_domain;
};
/* Loads the messages row msg_id: 0, STORE_NOT_FOUND (purged), or -1
 * (store_error(s)). */
int store_message_load(struct store *s, int64_t msg_id,
                       struct store_msg_load *out);
void store_msg_load_clear(struct store_msg_load *m);

/*
 * The admin CLI's view of the queue (pigeon queue, SPEC §9).
 */
/* One recipient row with its message's Message-ID: queue_row_list_free. */
struct queue_row {
	int64_t rcpt_id, msg_id;
	char *message_id;
	char *address;
	enum rcpt_state state;
	int attempts;
	int64_t last_attempt, next_attempt; /* unix ms, 0 = none */
	char *reply;
};
/* Recipients in state (-1: queued and deferred), newest message first,
 * at most limit in *out (*n of them); *total how many match. 0 or -1. */
int store_queue_list(struct store *s, int state, int limit,
                     struct queue_row **out, size_t *n, int64_t *total);
void queue_row_list_free(struct queue_row *v, size_t n);

/* A message and every recipient of it: queue_msg_clear. */
struct queue_msg {
	int64_t id;
	char account_id[ID_LEN + 1];
	char *message_id, *mail_from, *subject; /* subject NULL when none */
	int64_t size, created;                  /* bytes; unix ms */
	struct rcpt_status *rcpts;
	size_t nrcpts;
};
/* The newest message with Message-ID message_id ("<…>" or bare), of any
 * account. 0, STORE_NOT_FOUND, -1. */
int store_queue_message(struct store *s, const char *message_id,
                        struct queue_msg *out);
void queue_msg_clear(struct queue_msg *m);
/* Makes the queued and deferred recipients of message row msg_id (0:
 * every message) whose domain is domain (NULL: any) due at now (unix
 * ms); *changed how many. 0 or -1. */
int store_queue_retry(struct store *s, int64_t msg_id, const char *domain,
                      int64_t now, int64_t *changed);

/*
 * Requests to a running server's engine (retry, drop, resume), written
 * by the CLI before it signals the server (SIGUSR1); the server reads
 * those after the last it saw. Rows older than an hour are deleted by
 * the next store_request_add.
 */
enum queue_req_kind { QREQ_RETRY, QREQ_DROP, QREQ_RESUME };
struct queue_req {
	int64_t id;
	enum queue_req_kind kind;
	int64_t msg_id;          /* retry, drop: the message row; 0 = all */
	const char *destination; /* resume: "domain" or "route:domain" */
};
int store_request_add(struct store *s, const struct queue_req *r);
/* The newest request's id (0 when none) in *id. 0 or -1. */
int store_request_last(struct store *s, int64_t *id);
/* Each request after after_id, in order, to cb (r valid during the
 * call; cb returns 0 to go on). 0 or -1. */
typedef int store_request_fn(void *arg, const struct queue_req *r);
int store_requests_after(struct store *s, int64_t after_id,
                         store_request_fn *cb, void *arg);

/*
 * SPEC §6.3 destination health as the running engine last reported it:
 * one row per throttled destination (route, domain), deleted when it
 * recovers or is resumed; emptied at each start.
 */
struct store_dest {
	char route[16];
	char *domain;
	int cap, full;        /* connections now; the route's cap */
	int64_t paused_until; /* unix ms; 0 when not paused */
	int64_t throttled_at; /* unix ms */
	char *reply;          /* the reply that throttled it, may be NULL */
};
/* Adds or replaces d (by route and domain). 0 or -1. */
int store_dest_put(struct store *s, const struct store_dest *d);
/* Deletes route:domain's row; route NULL: of any route; domain NULL:
 * every row. 0 or -1. */
int store_dest_del(struct store *s, const char *route, const char *domain);
int store_dest_list(struct store *s, struct store_dest **out, size_t *n);
void store_dest_list_free(struct store_dest *v, size_t n);

/*
 * SPEC §8.1: the suppression list managed by hand (REST and the CLI).
 * Entries are read and written by (account, id); an entry of another
 * account is not found. read_only (policy) entries are never changed
 * or deleted by these calls.
 *
 * store_suppression_add: adds sp (its id, account, email, scope,
 * reason, note, created, expires_at) unless its (account, email,
 * scope) has an entry; one that has expired (it suppresses nothing) is
 * renewed in place with sp's reason, note, created and expiry, its id
 * kept, unless read_only. *out is the entry there afterwards and
 * *added 1 when this call wrote it, 0 when a live entry (or a
 * read_only one) was left as it was. Inside the caller's transaction
 * when one is open; 0 or -1.
 */
int store_suppression_add(struct store *s, const struct suppression *sp,
                          struct suppression *out, int *added);
/* The entry id of account_id: 0, STORE_NOT_FOUND, or -1. */
int store_suppression_get(struct store *s, const char *account_id,
                          const char *id, struct suppression *out);
/* store_suppression_list's filters; NULL or -1 = any. */
struct supp_filter {
	const char *email;       /* exactly this stored address */
	const char *search;      /* a substring of it, in any case */
	int reason;              /* enum supp_reason, -1 = any */
	const char *scope_type;  /* "account" or "sending_domain" */
	const char *scope_value; /* a sending domain's name */
	int64_t now; /* unix ms: entries expired by then left out (0: none) */
};
/* The live entries of account_id matching f whose id is after after_id
 * ("" = from the start), in id order, at most limit: *out a malloc'd
 * array of *n (suppression_list_free). 0 or -1. */
int store_suppression_list(struct store *s, const char *account_id,
                           const char *after_id, int limit,
                           const struct supp_filter *f,
                           struct suppression **out, size_t *n);
void suppression_list_free(struct suppression *v, size_t n);
/* What an edit changes: the expiry (0 = never) when set_expires, the
 * note (NULL or "" = none) when set_note. */
struct supp_edit {
	int set_expires;
	int64_t expires_at;
	int set_note;
	const char *note;
};
/* Changes entry id of account_id as e says: 0, STORE_NOT_FOUND (none,
 * or read_only), or -1. */
int store_suppression_edit(struct store *s, const char *account_id,
                           const char *id, const struct supp_edit *e);
/* Deletes entry id of account_id: 0, STORE_NOT_FOUND (none, or
 * read_only), or -1. */
int store_suppression_delete(struct store *s, const char *account_id,
                             const char *id);
/*
 * SPEC §8.4: recipients sent by an account on a UTC day (day: days since
 * the epoch), kept so that the daily quota survives a restart.
 * store_usage_put sets the count; store_usage_day gives each account's
 * count of day to cb (account_id valid during the call; cb returns 0 to
 * go on); store_usage_purge deletes the days before before_day and
 * returns how many rows went. 0 (or a count) or -1.
 */
typedef int store_usage_fn(void *arg, const char *account_id, int64_t sent);
int store_usage_put(struct store *s, const char *account_id, int64_t day,
                    int64_t sent);
int store_usage_day(struct store *s, int64_t day, store_usage_fn *cb,
                    void *arg);
int store_usage_purge(struct store *s, int64_t before_day);
/*
 * Sending domains by id (SPEC §8.2). store_domain_get: the live domain
 * id; 0, STORE_NOT_FOUND (unknown or deleted), -1. store_domain_delete:
 * the domain leaves every list and lookup and its name is free to be
 * created again, but its row stays (deleted) for the messages that name
 * it: their queued recipients still go out with its name and return
 * path (store_message_load). Bumps the generation. 0, STORE_NOT_FOUND,
 * -1.
 */
int store_domain_get(struct store *s, const char *id, struct domain *out);
int store_domain_delete(struct store *s, const char *id);

/* SPEC §8.3: one message of a list, with its recipients counted by
 * state (counts[] by enum rcpt_state). Strings malloc'd. */
#define MSG_SUMMARY_STATES 6
struct msg_summary {
	int64_t id; /* messages row id: the cursor */
	char *message_id, *mail_from, *subject; /* subject NULL when none */
	int64_t created;                        /* unix ms */
	int64_t size;                           /* bytes */
	int64_t total;
	int64_t counts[MSG_SUMMARY_STATES];
};
/*
 * The messages of account_id with a row id below before_id (0: from the
 * newest), newest first, at most limit; q NULL, or a lowercase string
 * found in the sender, the subject, the Message-ID or a recipient's
 * address (in any case). *out a malloc'd array of *n. 0 or -1.
 */
int store_message_list(struct store *s, const char *account_id,
                       int64_t before_id, int limit, const char *q,
                       struct msg_summary **out, size_t *n);
void msg_summary_list_free(struct msg_summary *v, size_t n);

/*
 * SPEC §6.5 webhooks. A webhook reads its account's events after its
 * cursor (events.id); the dispatcher (webhook/) copies each page it
 * reads into the webhook's outbox, one row per event still to POST,
 * and walks the due rows. Read back, strings are malloc'd
 * (webhook_clear, webhook_list_free).
 */
struct webhook {
	char id[ID_LEN + 1];
	char account_id[ID_LEN + 1];
	char *url;
	char *secret;    /* 64 hex: the HMAC key as written */
	char *events;    /* ",type,type," of full names; NULL = every type */
	int64_t created; /* unix s */
	int64_t cursor;  /* events.id read up to */
	/* read back only */
	char *last_error;          /* the last failed attempt's, or NULL */
	int64_t last_error_at;     /* unix ms, 0 = none */
	int64_t pending, given_up; /* outbox rows */
	/* its events after the cursor; listing one account only (the
	 * count walks a backlog) */
	int64_t unread;
};
/* One outbox row with its event (strings valid during the callback;
 * payload NULL when the event is gone, purged with its message). queued
 * is the event's time, or the replay's. */
struct webhook_job {
	int64_t event_rowid, msg_id;
	int attempts;
	int64_t queued; /* unix ms it entered the outbox */
	const char *event_id;
	const char *payload;
};
typedef int store_webhook_job_fn(void *arg, const struct webhook_job *j);
/*
 * The connection's own commits are no longer flushed to disk when they
 * return (SQLite synchronous=NORMAL in WAL mode): a power failure may
 * undo the last of them, never a crash of the process, and the next
 * flushed commit of any connection flushes them too. For the webhook
 * dispatcher, whose lost writes are redone (a page copied again, a POST
 * made again: at least once), so that its commits cost the writer no
 * wait on the disk. 0 or -1.
 */
int store_webhook_relax(struct store *s);
/* Adds w (its cursor: the newest event now). 0, STORE_EXISTS, -1. */
int store_webhook_create(struct store *s, const struct webhook *w);
/* Webhooks of account_id (NULL: all), oldest first. 0 or -1. */
int store_webhook_list(struct store *s, const char *account_id,
                       struct webhook **out, size_t *n);
/* Deletes webhook id and its outbox. 0, STORE_NOT_FOUND, -1. */
int store_webhook_delete(struct store *s, const char *id);
void webhook_clear(struct webhook *w);
void webhook_list_free(struct webhook *v, size_t n);
/*
 * Inside the caller's transaction: the next page (at most limit) of
 * w's account's events after w->cursor into w's outbox (those of its
 * types), due at now (unix ms), queued at their own time, and the
 * cursor moved past the page,
 * unless another connection moved it first. The new cursor in *cursor
 * (w->cursor when nothing was read). 0 or -1.
 */
int store_webhook_pump(struct store *s, const struct webhook *w, int64_t now,
                       int limit, int64_t *cursor);
/* The pending outbox rows of webhook_id due at now, each the first
 * pending one of its message, oldest event first, at most limit, to cb
 * (0 to go on). 0 or -1. */
int store_webhook_due(struct store *s, const char *webhook_id, int64_t now,
                      int limit, store_webhook_job_fn *cb, void *arg);
/*
 * An attempt's end, inside the caller's transaction: ok deletes the
 * row; else it keeps attempts and error, and is due again at next, or
 * given up (give_up), and the webhook's last error is error at now.
 * 0 or -1.
 */
int store_webhook_result(struct store *s, const char *webhook_id,
                         int64_t event_rowid, int ok, int attempts,
                         int64_t next, int give_up, const char *error,
                         int64_t now);
/* Queues again for webhook_id its events created in [since, until)
 * (unix ms) of type (NULL: any of its types), due at now: *count
 * rows. 0, STORE_NOT_FOUND (no such webhook), -1. */
int store_webhook_replay(struct store *s, const char *webhook_id, int64_t since,
                         int64_t until, const char *type, int64_t now,
                         int64_t *count);

#endif
