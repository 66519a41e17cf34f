/*
 * sqlite: the SQLite backend of the store (see store.h, backend.h).
 *
 * One struct sqlite_store is one connection, in WAL mode with
 * synchronous=FULL (a COMMIT that returns is on disk), foreign keys on and
 * a 5 s busy timeout. The schema is versioned by PRAGMA user_version and
 * brought up to date at open by the ordered migrations[] below, inside one
 * transaction. Statements are prepared once per connection, on first use,
 * from the stmt_sql[] table. Recipient states are stored as the integers
 * of enum rcpt_state; times are unix seconds for admin rows and unix
 * milliseconds for messages and recipients, as in store.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../core/clock.h"
#include "backend.h"

#define BUSY_TIMEOUT_MS 5000

/*
 * Schema migrations, applied in order; user_version is the number
 * applied. Never edit a step that has shipped: append a new one.
 */
static const char *const migrations[] = {
    /* 1: the first schema (DESIGN §5) */
    "CREATE TABLE meta ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  generation INTEGER NOT NULL);"
    "INSERT INTO meta (id, generation) VALUES (1, 0);"
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  entitled INTEGER NOT NULL,"
    "  sending_enabled INTEGER NOT NULL,"
    "  rate INTEGER NOT NULL,"
    "  burst INTEGER NOT NULL,"
    "  daily_quota INTEGER NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE zones ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE domains ("
    "  id TEXT PRIMARY KEY,"
    "  zone_id TEXT NOT NULL REFERENCES zones(id),"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL UNIQUE,"
    "  enabled INTEGER NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  return_path_domain TEXT NOT NULL,"
    "  drop_suppressed INTEGER NOT NULL,"
    "  preview_enabled INTEGER NOT NULL,"
    "  rsa_pem TEXT,"
    "  ed_pem TEXT,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL);"
    "CREATE TABLE tokens ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  perms INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  global_email TEXT,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  domain_id TEXT REFERENCES domains(id),"
    "  message_id TEXT NOT NULL,"
    "  mail_from TEXT NOT NULL,"
    "  subject TEXT,"
    "  raw BLOB NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  preview INTEGER NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX messages_by_id ON messages (account_id, message_id);"
    "CREATE TABLE recipients ("
    "  id INTEGER PRIMARY KEY,"
    "  message_id INTEGER NOT NULL REFERENCES messages(id),"
    "  address TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt INTEGER NOT NULL DEFAULT 0,"
    "  last_attempt INTEGER NOT NULL DEFAULT 0,"
    "  last_reply TEXT,"
    "  updated INTEGER NOT NULL);"
    "CREATE INDEX recipients_pending ON recipients (state, next_attempt);"
    "CREATE INDEX recipients_message ON recipients (message_id);",
    /* 2: Idempotency-Key records (SPEC §2.4); msg_id is messages.id */
    "CREATE TABLE idempotency ("
    "  account_id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  body_hash TEXT NOT NULL,"
    "  msg_id INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, key));",
    /* 3: the purge of records past 24 h finds them by age */
    "CREATE INDEX idempotency_created ON idempotency (created);",
    /* 4: a key belongs to the endpoint it was used with (send,
     * send_raw); NULL in the rows written before, which either may
     * replay */
    "ALTER TABLE idempotency ADD COLUMN endpoint TEXT;",
    /* 5: the purge of messages past message_retention walks them by
     * age and tells a pending recipient from the index alone (which
     * also serves every lookup by message, so the old one goes); the
     * Idempotency-Key records of a purged message are found by it.
     * IF (NOT) EXISTS: a store whose user_version was set back by hand
     * (the tests do) takes it again */
    "CREATE INDEX IF NOT EXISTS messages_created ON messages (created);"
    "CREATE INDEX IF NOT EXISTS recipients_message_state "
    "  ON recipients (message_id, state);"
    "DROP INDEX IF EXISTS recipients_message;"
    "CREATE INDEX IF NOT EXISTS idempotency_msg ON idempotency (msg_id);",
    /* 6: suppressions (SPEC §6.4, §8.1) and the events outbox (§6.5).
     * A suppression is unique per (account, email, scope); the account
     * scope has no value, hence coalesce() in the key. Pages go by
     * (account, id); the expiry purge walks the entries that expire.
     * An event's id is the cursor: AUTOINCREMENT, so it is never given
     * again even once the newest rows are purged. event_id is 128
     * random bits, unique without an index: one on random keys dirties
     * a page of its own per insert. Events go with their message (by
     * msg_id); no foreign keys, so the hot path checks no parent rows.
     * IF NOT EXISTS as in 5. */
    "CREATE TABLE IF NOT EXISTS suppressions ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  email TEXT NOT NULL,"
    "  reason TEXT NOT NULL CHECK (reason IN ('manual', 'hard_bounce',"
    "    'soft_bounce', 'complaint', 'policy')),"
    "  scope_type TEXT NOT NULL CHECK (scope_type IN ('account',"
    "    'sending_domain')),"
    "  scope_value TEXT,"
    "  note TEXT,"
    "  created INTEGER NOT NULL,"
    "  expires_at INTEGER,"
    "  read_only INTEGER NOT NULL DEFAULT 0,"
    "  CHECK ((scope_type = 'account') = (scope_value IS NULL)));"
    "CREATE UNIQUE INDEX IF NOT EXISTS suppressions_key ON suppressions"
    "  (account_id, email, scope_type, coalesce(scope_value, ''));"
    "CREATE INDEX IF NOT EXISTS suppressions_page"
    "  ON suppressions (account_id, id);"
    "CREATE INDEX IF NOT EXISTS suppressions_expiry"
    "  ON suppressions (expires_at) WHERE expires_at IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  msg_id INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  rcpt_id INTEGER NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  payload TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_page ON events (account_id, id);"
    "CREATE INDEX IF NOT EXISTS events_msg ON events (msg_id);",
    /* 7: pigeon queue (SPEC §9). requests: what the CLI asks of a
     * running engine (retry, drop, resume), read by id after the last
     * one seen. destinations: the engine's throttled destinations
     * (SPEC §6.3), a snapshot it keeps up to date for the CLI. */
    "CREATE TABLE IF NOT EXISTS requests ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind INTEGER NOT NULL,"
    "  msg_id INTEGER NOT NULL DEFAULT 0,"
    "  destination TEXT,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS destinations ("
    "  route TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  cap INTEGER NOT NULL,"
    "  full INTEGER NOT NULL,"
    "  paused_until INTEGER NOT NULL,"
    "  throttled_at INTEGER NOT NULL,"
    "  reply TEXT,"
    "  PRIMARY KEY (route, domain));",
    /* 8: the shared queue (SPEC §6.3): a recipient a node is trying,
     * or holds to try soon, is leased to it (owner, until); a lease
     * that runs out frees it for any node. Only leased rows are in
     * recipients_leased: a node finds its own few among millions. */
    "ALTER TABLE recipients ADD COLUMN lease_owner TEXT;"
    "ALTER TABLE recipients ADD COLUMN lease_until INTEGER NOT NULL "
    "  DEFAULT 0;"
    "CREATE INDEX IF NOT EXISTS recipients_leased ON recipients "
    "  (lease_owner) WHERE lease_owner IS NOT NULL;",
    /* 9: webhooks (SPEC §6.5). A webhook reads the events table after
     * its own cursor (events.id); the dispatcher copies what it read
     * into webhook_outbox, one row per event still to POST there
     * (state 0 pending, 2 given up), so the writer of events does
     * nothing per webhook. Due rows are read in event order by
     * (webhook, state, event_rowid), given-up ones skipped; a message's
     * earlier pending event by (webhook, msg_id, event_rowid). A
     * webhook's rows go with it. */
    "CREATE TABLE IF NOT EXISTS webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  url TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  events TEXT,"
    "  created INTEGER NOT NULL,"
    "  cursor INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  last_error_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS webhooks_account ON webhooks (account_id);"
    "CREATE TABLE IF NOT EXISTS webhook_outbox ("
    "  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  event_rowid INTEGER NOT NULL,"
    "  msg_id INTEGER NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt INTEGER NOT NULL,"
    "  queued INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  PRIMARY KEY (webhook_id, event_rowid)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox"
    "  (webhook_id, state, event_rowid);"
    "CREATE INDEX IF NOT EXISTS webhook_outbox_msg ON webhook_outbox"
    "  (webhook_id, msg_id, event_rowid);",
    /* 10: the daily quota's counts (SPEC §8.4): recipients sent by an
     * account on a UTC day (days since the epoch), so that a restart
     * keeps the day's count */
    "CREATE TABLE send_usage ("
    "  account_id TEXT NOT NULL,"
    "  day INTEGER NOT NULL,"
    "  sent INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, day));",
    /* 11: sending domains deleted over REST (SPEC §8.2) stay as rows,
     * since their messages name them (messages.domain_id) and their
     * queued recipients still go out: deleted_name keeps the name and
     * name takes the id, so the name can be onboarded again; live rows
     * have deleted_name NULL. The message list (SPEC §8.3) pages an
     * account's messages newest first by (account_id, id). */
    "ALTER TABLE domains ADD COLUMN deleted_name TEXT;"
    "CREATE INDEX IF NOT EXISTS messages_account ON messages "
    "  (account_id, id);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(*migrations)))

enum st {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_ADMIN_BEGIN,
	ST_OP_BEGIN,
	ST_OP_RELEASE,
	ST_OP_UNDO,
	ST_ADMIN_END,
	ST_ADMIN_UNDO,
	ST_GEN_BUMP,
	ST_GEN_GET,
	ST_ACCOUNT_INSERT,
	ST_ACCOUNT_UPDATE,
	ST_ACCOUNT_GET,
	ST_ACCOUNT_LIST,
	ST_ZONE_INSERT,
	ST_ZONE_GET,
	ST_ZONE_LIST,
	ST_DOMAIN_INSERT,
	ST_DOMAIN_UPDATE,
	ST_DOMAIN_GET_NAME,
	ST_DOMAIN_LIST,
	ST_TOKEN_INSERT,
	ST_TOKEN_REVOKE,
	ST_TOKEN_LIST,
	ST_MSG_INSERT,
	ST_RCPT_INSERT,
	ST_OUTCOME,
	ST_LEASE_DUE,
	ST_LEASE_FREED,
	ST_LEASE_TAKE,
	ST_LEASE_RENEW,
	ST_LEASE_RELEASE,
	ST_RCPT_OF,
	ST_RCPT_FIND,
	ST_RCPT_BOUNCE,
	ST_MSG_BY_ID,
	ST_RCPTS_OF,
	ST_IDEM_PUT,
	ST_IDEM_GET,
	ST_IDEM_PURGE,
	ST_MSG_PICK_OLD,
	ST_MSG_DEL_IDEM,
	ST_MSG_DEL_RCPTS,
	ST_MSG_DEL,
	ST_MSG_BODY_DROP,
	ST_SIZE,
	ST_RAW_REF,
	ST_MSG_INFO,
	/* webhooks (SPEC §6.5) */
	ST_HOOK_INSERT,
	ST_HOOK_LIST,
	ST_HOOK_DELETE,
	ST_HOOK_HI,
	ST_HOOK_PUMP,
	ST_HOOK_CURSOR,
	ST_HOOK_DUE,
	ST_HOOK_DONE,
	ST_HOOK_RETRY,
	ST_HOOK_ERROR,
	ST_HOOK_REPLAY,
	ST_EVENT_INSERT,
	ST_EVENTS_LIST,
	ST_MSG_DEL_EVENTS,
	ST_SUPP_UPSERT,
	ST_SUPP_FIND,
	ST_SUPP_PURGE,
	ST_MSG_LOAD,
	ST_QUEUE_LIST,
	ST_QUEUE_COUNT,
	ST_QUEUE_MSG,
	ST_QUEUE_RETRY,
	ST_REQ_ADD,
	ST_REQ_PURGE,
	ST_REQ_LAST,
	ST_REQ_AFTER,
	ST_DEST_PUT,
	ST_DEST_DEL,
	ST_DEST_LIST,
	ST_USAGE_PUT,
	ST_USAGE_DAY,
	ST_USAGE_PURGE,
	/* SPEC §8.1 management */
	ST_SUPP_ADD,
	ST_SUPP_BY_KEY,
	ST_SUPP_GET,
	ST_SUPP_LIST,
	ST_SUPP_EDIT,
	ST_SUPP_DELETE,
	ST_DOMAIN_GET_ID,
	ST_DOMAIN_DELETE,
	ST_MSG_LIST,
	ST_COUNT
};

#define ACCOUNT_COLS                                                           \
	"id, name, entitled, sending_enabled, rate, burst, daily_quota, "      \
	"created"
#define ZONE_COLS "id, account_id, name, created"
#define DOMAIN_COLS                                                            \
	"id, zone_id, account_id, name, enabled, selector, "                   \
	"return_path_domain, drop_suppressed, preview_enabled, rsa_pem, "      \
	"ed_pem, created, modified"
#define TOKEN_COLS                                                             \
	"id, account_id, name, hash, perms, expires, revoked, global_email, "  \
	"created"
#define EVENT_COLS                                                             \
	"event_id, account_id, msg_id, message_id, rcpt_id, recipient, type, " \
	"created, payload"
#define SUPP_COLS                                                              \
	"id, account_id, email, reason, scope_value, note, created, "          \
	"expires_at, read_only"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ADMIN_BEGIN] = "SAVEPOINT admin",
    [ST_OP_BEGIN] = "SAVEPOINT op",
    [ST_OP_RELEASE] = "RELEASE op",
    [ST_OP_UNDO] = "ROLLBACK TO op",
    [ST_ADMIN_END] = "RELEASE admin",
    [ST_ADMIN_UNDO] = "ROLLBACK TO admin",
    [ST_GEN_BUMP] = "UPDATE meta SET generation = generation + 1 "
                    "WHERE id = 1",
    [ST_GEN_GET] = "SELECT generation FROM meta WHERE id = 1",
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts (" ACCOUNT_COLS ") "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_ACCOUNT_UPDATE] = "UPDATE accounts SET name = ?2, entitled = ?3, "
                          "sending_enabled = ?4, rate = ?5, burst = ?6, "
                          "daily_quota = ?7 WHERE id = ?1",
    [ST_ACCOUNT_GET] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1",
    [ST_ACCOUNT_LIST] = "SELECT " ACCOUNT_COLS " FROM accounts "
                        "ORDER BY created, id",
    [ST_ZONE_INSERT] = "INSERT INTO zones (" ZONE_COLS ") "
                       "VALUES (?1, ?2, ?3, ?4)",
    [ST_ZONE_GET] = "SELECT " ZONE_COLS " FROM zones WHERE id = ?1",
    [ST_ZONE_LIST] = "SELECT " ZONE_COLS " FROM zones "
                     "WHERE ?1 IS NULL OR account_id = ?1 ORDER BY name",
    [ST_DOMAIN_INSERT] = "INSERT INTO domains (" DOMAIN_COLS ") VALUES (?1, "
                         "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_DOMAIN_UPDATE] = "UPDATE domains SET enabled = ?5, selector = ?6, "
                         "return_path_domain = ?7, drop_suppressed = ?8, "
                         "preview_enabled = ?9, rsa_pem = ?10, ed_pem = ?11, "
                         "modified = ?13 WHERE id = ?1 "
                         "AND deleted_name IS NULL",
    [ST_DOMAIN_GET_NAME] = "SELECT " DOMAIN_COLS " FROM domains "
                           "WHERE name = ?1",
    [ST_DOMAIN_LIST] = "SELECT " DOMAIN_COLS " FROM domains "
                       "WHERE (?1 IS NULL OR account_id = ?1) "
                       "AND deleted_name IS NULL ORDER BY name",
    [ST_TOKEN_INSERT] = "INSERT INTO tokens (" TOKEN_COLS ") "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE id = ?1",
    [ST_TOKEN_LIST] = "SELECT " TOKEN_COLS " FROM tokens "
                      "WHERE ?1 IS NULL OR account_id = ?1 "
                      "ORDER BY created, id",
    [ST_MSG_INSERT] = "INSERT INTO messages (account_id, domain_id, "
                      "message_id, mail_from, subject, raw, size, preview, "
                      "created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* a queued recipient is leased to the node that inserts it: its
     * engine has it at once */
    [ST_RCPT_INSERT] = "INSERT INTO recipients (message_id, address, state, "
                       "next_attempt, updated, lease_owner, lease_until) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* ?8: the engine keeps the recipient for a retry soon, and its
     * lease with it; else the lease ends with the attempt */
    [ST_OUTCOME] = "UPDATE recipients SET state = ?2, attempts = ?3, "
                   "last_attempt = ?4, next_attempt = ?5, last_reply = ?6, "
                   "updated = ?7, "
                   "lease_owner = CASE WHEN ?8 THEN lease_owner END, "
                   "lease_until = CASE WHEN ?8 THEN lease_until ELSE 0 END "
                   "WHERE id = ?1 AND state IN (0, 1)",
    /* One state at a time: the index gives them in order, no sort. */
    [ST_LEASE_DUE] =
        "SELECT r.id, r.message_id, m.message_id, r.address, "
        "m.domain_id, r.state, r.attempts, r.next_attempt, m.created "
        "FROM recipients r JOIN messages m ON m.id = r.message_id "
        "WHERE r.state = ?1 AND r.next_attempt <= ?2 "
        "AND r.lease_until <= ?3 AND (r.lease_owner IS NOT ?4 "
        "OR r.lease_until <= ?3 - ?5) ORDER BY r.next_attempt, r.id",
    /* once the free ones are taken, the due rows left are leased ones:
     * few (a window per node) */
    [ST_LEASE_FREED] = "SELECT min(lease_until) FROM recipients "
                       "WHERE state = ?1 AND next_attempt <= ?2 "
                       "AND lease_until > ?3 AND lease_owner IS NOT ?4",
    [ST_LEASE_TAKE] = "UPDATE recipients SET lease_owner = ?2, "
                      "lease_until = ?3 WHERE id = ?1",
    [ST_LEASE_RENEW] = "UPDATE recipients SET lease_until = ?3 "
                       "WHERE id = ?1 AND lease_owner = ?2",
    [ST_LEASE_RELEASE] = "UPDATE recipients SET lease_owner = NULL, "
                         "lease_until = 0 WHERE lease_owner = ?1",
    [ST_RCPT_OF] = "SELECT message_id, state, address FROM recipients "
                   "WHERE id = ?1",
    /* a report may change the case of either part; within one
     * message's recipients that never confuses two */
    [ST_RCPT_FIND] = "SELECT id, state FROM recipients WHERE message_id = ?1 "
                     "AND lower(address) = lower(?2) ORDER BY id LIMIT 1",
    [ST_RCPT_BOUNCE] = "UPDATE recipients SET state = 3, last_reply = ?2, "
                       "updated = ?3, next_attempt = 0, lease_owner = NULL, "
                       "lease_until = 0 WHERE id = ?1 AND state != 3",
    /* A client may reuse a Message-ID (send_raw, SMTP): the newest. */
    [ST_MSG_BY_ID] = "SELECT id, message_id, created FROM messages "
                     "WHERE account_id = ?1 AND message_id = ?2 "
                     "ORDER BY id DESC LIMIT 1",
    [ST_RCPTS_OF] = "SELECT address, state, attempts, last_attempt, "
                    "next_attempt, last_reply, id FROM recipients "
                    "WHERE message_id = ?1 ORDER BY id",
    /* A record past 24 h is only replaced: the api checks the age. */
    [ST_IDEM_PUT] = "INSERT OR REPLACE INTO idempotency (account_id, key, "
                    "body_hash, msg_id, message_id, created, endpoint) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_IDEM_GET] = "SELECT i.body_hash, m.id, m.message_id, m.created, "
                    "i.endpoint "
                    "FROM idempotency i JOIN messages m ON m.id = i.msg_id "
                    "WHERE i.account_id = ?1 AND i.key = ?2 "
                    "AND i.created >= ?3",
    [ST_IDEM_PURGE] = "DELETE FROM idempotency WHERE rowid IN ("
                      "SELECT rowid FROM idempotency WHERE created < ?1 "
                      "LIMIT ?2)",
    /* Messages past the retention whose recipients are all final
     * (states 0 and 1, queued and deferred, are the pending ones). */
    [ST_MSG_PICK_OLD] = "SELECT id FROM messages m WHERE created < ?1 "
                        "AND NOT EXISTS (SELECT 1 FROM recipients r "
                        "WHERE r.message_id = m.id AND r.state IN (0, 1)) "
                        "ORDER BY created LIMIT ?2",
    [ST_MSG_DEL_IDEM] = "DELETE FROM idempotency WHERE msg_id = ?1",
    [ST_MSG_DEL_RCPTS] = "DELETE FROM recipients WHERE message_id = ?1",
    [ST_MSG_DEL] = "DELETE FROM messages WHERE id = ?1",
    /* Without preview the bytes serve delivery only. */
    [ST_MSG_BODY_DROP] = "UPDATE messages SET raw = X'' WHERE id = ?1 "
                         "AND preview = 0 AND length(raw) > 0 "
                         "AND NOT EXISTS (SELECT 1 FROM recipients "
                         "WHERE message_id = ?1 AND state IN (0, 1))",
    [ST_SIZE] = "SELECT c.page_count * s.page_size, "
                "f.freelist_count * s.page_size FROM pragma_page_count() c, "
                "pragma_page_size() s, pragma_freelist_count() f",
    /* The row and size of a raw message, without reading it:
     * length() of a BLOB reads only its header. */
    [ST_RAW_REF] = "SELECT id, length(raw), preview FROM messages "
                   "WHERE account_id = ?1 AND message_id = ?2 "
                   "ORDER BY id DESC LIMIT 1",
    [ST_MSG_INFO] = "SELECT m.account_id, m.message_id, m.mail_from, "
                    "m.subject, coalesce(d.deleted_name, d.name), "
                    "m.created FROM messages m "
                    "LEFT JOIN domains d ON d.id = m.domain_id "
                    "WHERE m.id = ?1",
    [ST_EVENT_INSERT] = "INSERT INTO events (" EVENT_COLS ") "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* A Message-ID may be reused: the events of every message with it. */
    [ST_EVENTS_LIST] = "SELECT id, " EVENT_COLS " FROM events "
                       "WHERE account_id = ?1 AND id > ?2 "
                       "AND (?3 IS NULL OR type = ?3) "
                       "AND (?4 IS NULL OR msg_id IN (SELECT id FROM "
                       "messages WHERE account_id = ?1 AND message_id = ?4)) "
                       "AND created >= ?5 ORDER BY id LIMIT ?6",
    [ST_MSG_DEL_EVENTS] = "DELETE FROM events WHERE msg_id = ?1",
    /* store.h says what meeting an entry does. An entry that has expired
     * (expires_at before the new one's created) is replaced; a live one
     * keeps its reason unless both are automatic and the new expiry
     * wins; NULL, never, beats any date. */
    [ST_SUPP_UPSERT] =
        "INSERT INTO suppressions (id, account_id, email, reason, "
        "scope_type, scope_value, note, created, expires_at, read_only) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (account_id, email, scope_type, "
        "coalesce(scope_value, '')) DO UPDATE SET "
        "reason = CASE WHEN expires_at <= excluded.created "
        "  THEN excluded.reason "
        "  WHEN reason IN ('hard_bounce', 'soft_bounce') "
        "  AND excluded.reason IN ('hard_bounce', 'soft_bounce') "
        "  AND expires_at IS NOT NULL AND (excluded.expires_at IS NULL "
        "  OR excluded.expires_at > expires_at) THEN excluded.reason "
        "  ELSE reason END, "
        "note = CASE WHEN expires_at <= excluded.created "
        "  THEN excluded.note ELSE note END, "
        "created = CASE WHEN expires_at <= excluded.created "
        "  THEN excluded.created ELSE created END, "
        "expires_at = CASE WHEN expires_at <= excluded.created "
        "  THEN excluded.expires_at "
        "  WHEN expires_at IS NULL OR excluded.expires_at IS NULL "
        "  THEN NULL ELSE max(expires_at, excluded.expires_at) END "
        "WHERE read_only = 0",
    /* 'account' sorts before 'sending_domain': the wider entry first */
    [ST_SUPP_FIND] = "SELECT " SUPP_COLS " FROM suppressions "
                     "WHERE account_id = ?1 AND email = ?2 "
                     "AND (scope_type = 'account' OR scope_value = ?3) "
                     "AND (expires_at IS NULL OR expires_at > ?4) "
                     "ORDER BY scope_type LIMIT 1",
    [ST_SUPP_PURGE] = "DELETE FROM suppressions WHERE rowid IN ("
                      "SELECT rowid FROM suppressions WHERE expires_at < ?1 "
                      "LIMIT ?2)",
    [ST_MSG_LOAD] = "SELECT m.raw, coalesce(d.deleted_name, d.name), "
                    "d.return_path_domain "
                    "FROM messages m LEFT JOIN domains d "
                    "ON d.id = m.domain_id WHERE m.id = ?1",
    /* ?1: one state, or -1 for the pending ones (0, 1) */
    [ST_QUEUE_LIST] = "SELECT r.id, r.message_id, m.message_id, r.address, "
                      "r.state, r.attempts, r.last_attempt, "
                      "r.next_attempt, r.last_reply FROM recipients r "
                      "JOIN messages m ON m.id = r.message_id "
                      "WHERE (?1 = -1 AND r.state IN (0, 1)) OR r.state = ?1 "
                      "ORDER BY r.message_id DESC, r.id LIMIT ?2",
    [ST_QUEUE_COUNT] = "SELECT count(*) FROM recipients "
                       "WHERE (?1 = -1 AND state IN (0, 1)) OR state = ?1",
    [ST_QUEUE_MSG] = "SELECT id, account_id, message_id, mail_from, "
                     "subject, size, created FROM messages "
                     "WHERE message_id = ?1 ORDER BY id DESC LIMIT 1",
    /* the domain is what follows the last '@' (a quoted local part may
     * hold one): rtrim() keeps what is not in the set of the domain's
     * own characters */
    [ST_QUEUE_RETRY] = "UPDATE recipients SET next_attempt = ?3, "
                       "updated = ?3 WHERE state IN (0, 1) "
                       "AND (?1 = 0 OR message_id = ?1) AND (?2 IS NULL "
                       "OR lower(substr(address, length(rtrim(address, "
                       "replace(address, '@', ''))) + 1)) = lower(?2))",
    [ST_REQ_ADD] = "INSERT INTO requests (kind, msg_id, destination, "
                   "created) VALUES (?1, ?2, ?3, ?4)",
    [ST_REQ_PURGE] = "DELETE FROM requests WHERE created < ?1",
    [ST_REQ_LAST] = "SELECT coalesce(max(id), 0) FROM requests",
    [ST_REQ_AFTER] = "SELECT id, kind, msg_id, destination FROM requests "
                     "WHERE id > ?1 ORDER BY id",
    [ST_DEST_PUT] = "INSERT OR REPLACE INTO destinations (route, domain, "
                    "cap, full, paused_until, throttled_at, reply) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_DEST_DEL] = "DELETE FROM destinations WHERE (?1 IS NULL OR "
                    "route = ?1) AND (?2 IS NULL OR domain = lower(?2))",
    [ST_DEST_LIST] = "SELECT route, domain, cap, full, paused_until, "
                     "throttled_at, reply FROM destinations "
                     "ORDER BY throttled_at DESC, route, domain",
    /* webhooks (SPEC §6.5). A new webhook starts after the newest
     * event: what came before is for replay. */
    [ST_HOOK_INSERT] = "INSERT INTO webhooks (id, account_id, url, secret, "
                       "events, created, cursor) VALUES (?1, ?2, ?3, ?4, "
                       "?5, ?6, (SELECT coalesce(max(id), 0) FROM events))",
    [ST_HOOK_LIST] =
        "SELECT w.id, w.account_id, w.url, w.secret, w.events, w.created, "
        "w.cursor, w.last_error, w.last_error_at, "
        "(SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id "
        "AND o.state = 0), "
        "(SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id "
        "AND o.state = 2), "
        "CASE WHEN ?1 IS NULL THEN 0 ELSE (SELECT count(*) FROM events e "
        "WHERE e.account_id = w.account_id AND e.id > w.cursor "
        "AND (w.events IS NULL "
        "OR instr(w.events, ',' || e.type || ',') > 0)) END "
        "FROM webhooks w WHERE ?1 IS NULL OR w.account_id = ?1 "
        "ORDER BY w.created, w.id",
    [ST_HOOK_DELETE] = "DELETE FROM webhooks WHERE id = ?1",
    /* the last event of a page after the cursor, of any type */
    [ST_HOOK_HI] = "SELECT max(id) FROM (SELECT id FROM events "
                   "WHERE account_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3)",
    [ST_HOOK_PUMP] =
        "INSERT INTO webhook_outbox (webhook_id, event_rowid, msg_id, "
        "next_attempt, queued) SELECT ?1, id, msg_id, ?6, created "
        "FROM events "
        "WHERE account_id = ?2 AND id > ?3 AND id <= ?4 "
        "AND (?5 IS NULL OR instr(?5, ',' || type || ',') > 0) "
        "AND EXISTS (SELECT 1 FROM webhooks WHERE id = ?1) "
        "ORDER BY id ON CONFLICT (webhook_id, event_rowid) DO NOTHING",
    [ST_HOOK_CURSOR] = "UPDATE webhooks SET cursor = ?3 WHERE id = ?1 "
                       "AND cursor = ?2",
    /* Due rows, each the first pending one of its message: a later
     * event of a message waits for the earlier ones (SPEC §6.5). The
     * indexes named: pending rows in event order, a message's rows by
     * message (the planner, without statistics, would walk every
     * earlier row of the webhook for each one). */
    [ST_HOOK_DUE] =
        "SELECT o.event_rowid, o.msg_id, o.attempts, o.queued, e.event_id, "
        "e.payload FROM webhook_outbox o INDEXED BY webhook_outbox_due "
        "LEFT JOIN events e ON e.id = o.event_rowid "
        "WHERE o.webhook_id = ?1 AND o.state = 0 AND o.next_attempt <= ?2 "
        "AND NOT EXISTS (SELECT 1 FROM webhook_outbox p "
        "INDEXED BY webhook_outbox_msg "
        "WHERE p.webhook_id = ?1 AND p.msg_id = o.msg_id AND p.state = 0 "
        "AND p.event_rowid < o.event_rowid) "
        "ORDER BY o.event_rowid LIMIT ?3",
    [ST_HOOK_DONE] = "DELETE FROM webhook_outbox WHERE webhook_id = ?1 "
                     "AND event_rowid = ?2",
    [ST_HOOK_RETRY] = "UPDATE webhook_outbox SET attempts = ?3, "
                      "next_attempt = ?4, state = ?5, last_error = ?6 "
                      "WHERE webhook_id = ?1 AND event_rowid = ?2",
    [ST_HOOK_ERROR] = "UPDATE webhooks SET last_error = ?2, "
                      "last_error_at = ?3 WHERE id = ?1",
    /* Replay: the webhook's types only; a row already there (pending or
     * given up) starts again. */
    [ST_HOOK_REPLAY] =
        "INSERT INTO webhook_outbox (webhook_id, event_rowid, msg_id, "
        "next_attempt, queued) SELECT w.id, e.id, e.msg_id, ?5, ?5 "
        "FROM webhooks w JOIN events e ON e.account_id = w.account_id "
        "WHERE w.id = ?1 AND e.created >= ?2 AND e.created < ?3 "
        "AND (?4 IS NULL OR e.type = ?4) "
        "AND (w.events IS NULL OR instr(w.events, ',' || e.type || ',') > 0) "
        "AND e.id <= w.cursor "
        "ORDER BY e.id ON CONFLICT (webhook_id, event_rowid) DO UPDATE SET "
        "state = 0, attempts = 0, "
        "next_attempt = excluded.next_attempt, queued = excluded.queued, "
        "last_error = NULL",
    /* SPEC §8.2: a live sending domain by id */
    [ST_DOMAIN_GET_ID] = "SELECT " DOMAIN_COLS " FROM domains "
                         "WHERE id = ?1 AND deleted_name IS NULL",
    /* migration 11: the row stays for its messages, its name freed */
    [ST_DOMAIN_DELETE] = "UPDATE domains SET deleted_name = name, "
                         "name = id, enabled = 0, modified = ?2 "
                         "WHERE id = ?1 AND deleted_name IS NULL",
    /* SPEC §8.3: a page of an account's messages before row ?2, newest
     * first, walked on messages_account; ?4 (lowercase) NULL or a part
     * of the sender, the subject, the Message-ID or a recipient. The
     * recipients are counted for the page's rows only, on
     * recipients_message_state. */
    [ST_MSG_LIST] =
        "SELECT m.id, m.message_id, m.created, m.mail_from, m.subject, "
        "m.size, count(r.id), sum(r.state = 0), sum(r.state = 1), "
        "sum(r.state = 2), sum(r.state = 3), sum(r.state = 4), "
        "sum(r.state = 5) FROM (SELECT id, message_id, created, "
        "mail_from, subject, size FROM messages WHERE account_id = ?1 "
        "AND id < ?2 AND (?4 IS NULL OR instr(lower(mail_from), ?4) > 0 "
        "OR instr(lower(coalesce(subject, '')), ?4) > 0 "
        "OR instr(lower(message_id), ?4) > 0 OR EXISTS (SELECT 1 FROM "
        "recipients x WHERE x.message_id = messages.id "
        "AND instr(lower(x.address), ?4) > 0)) ORDER BY id DESC "
        "LIMIT ?3) m LEFT JOIN recipients r ON r.message_id = m.id "
        "GROUP BY m.id ORDER BY m.id DESC",
    [ST_USAGE_PUT] = "INSERT OR REPLACE INTO send_usage (account_id, day, "
                     "sent) VALUES (?1, ?2, ?3)",
    [ST_USAGE_DAY] = "SELECT account_id, sent FROM send_usage WHERE day = ?1",
    [ST_USAGE_PURGE] = "DELETE FROM send_usage WHERE day < ?1",
    /* SPEC §8.1 management. An entry that has expired suppresses
     * nothing: adding it again renews it in place (its id kept); a
     * live one is left as it is. */
    [ST_SUPP_ADD] =
        "INSERT INTO suppressions (id, account_id, email, reason, "
        "scope_type, scope_value, note, created, expires_at, read_only) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (account_id, email, scope_type, "
        "coalesce(scope_value, '')) DO UPDATE SET "
        "reason = excluded.reason, note = excluded.note, "
        "created = excluded.created, expires_at = excluded.expires_at "
        "WHERE expires_at <= excluded.created AND read_only = 0",
    [ST_SUPP_BY_KEY] = "SELECT " SUPP_COLS " FROM suppressions "
                       "WHERE account_id = ?1 AND email = ?2 "
                       "AND scope_type = ?3 "
                       "AND coalesce(scope_value, '') = ?4",
    [ST_SUPP_GET] = "SELECT " SUPP_COLS " FROM suppressions "
                    "WHERE account_id = ?1 AND id = ?2",
    /* pages by (account_id, id): the suppressions_page index */
    [ST_SUPP_LIST] = "SELECT " SUPP_COLS " FROM suppressions "
                     "WHERE account_id = ?1 AND id > ?2 "
                     "AND (?3 IS NULL OR email = ?3) "
                     "AND (?4 IS NULL OR instr(lower(email), lower(?4)) > 0) "
                     "AND (?5 IS NULL OR reason = ?5) "
                     "AND (?6 IS NULL OR scope_type = ?6) "
                     "AND (?7 IS NULL OR scope_value = ?7) "
                     "AND (expires_at IS NULL OR expires_at > ?8) "
                     "ORDER BY id LIMIT ?9",
    [ST_SUPP_EDIT] = "UPDATE suppressions SET "
                     "expires_at = CASE WHEN ?3 THEN ?4 ELSE expires_at END, "
                     "note = CASE WHEN ?5 THEN ?6 ELSE note END "
                     "WHERE account_id = ?1 AND id = ?2 AND read_only = 0",
    [ST_SUPP_DELETE] = "DELETE FROM suppressions WHERE account_id = ?1 "
                       "AND id = ?2 AND read_only = 0",
};

struct sqlite_store {
	struct store base; /* first: a struct store * is one of these */
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
};

static const struct store_ops sqlite_ops;

#define SQ(s) ((struct sqlite_store *)(s))

static void
set_err(struct store *s, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s: %s", what,
	         sqlite3_errmsg(SQ(s)->db));
}

/* The cached statement id, prepared on first use; NULL with err set. */
static sqlite3_stmt *
stmt(struct store *s, enum st id)
{
	struct sqlite_store *q = SQ(s);

	if (q->st[id] == NULL &&
	    sqlite3_prepare_v3(q->db, stmt_sql[id], -1,
	                       SQLITE_PREPARE_PERSISTENT, &q->st[id],
	                       NULL) != SQLITE_OK) {
		set_err(s, "prepare");
		return NULL;
	}
	return q->st[id];
}

static void
done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Binds s, or NULL when s is NULL or empty (optional ids). */
static void
bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL || *s == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t == NULL ? NULL : strdup((const char *)t);
}

static void
col_id(sqlite3_stmt *st, int i, char out[ID_LEN + 1])
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, ID_LEN + 1, "%s", t == NULL ? "" : (const char *)t);
}

/* Runs a statement that returns no rows: 0, -2 unique violation, -1. */
static int
run(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st), ext;

	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		done(st);
		return 0;
	}
	set_err(s, what);
	ext = sqlite3_extended_errcode(SQ(s)->db);
	done(st);
	if (ext == SQLITE_CONSTRAINT_UNIQUE ||
	    ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return STORE_EXISTS;
	return -1;
}

static int
run_id(struct store *s, enum st id, const char *what)
{
	sqlite3_stmt *st = stmt(s, id);

	return st == NULL ? -1 : run(s, st, what);
}

/*
 * An admin write: the prepared st (bound by the caller) and the
 * generation bump, in one savepoint so both or neither happen.
 * expect_row: fail with "not found" when st changed no row.
 */
static int
admin_write(struct store *s, sqlite3_stmt *st, const char *what, int expect_row)
{
	int rc;

	if (run_id(s, ST_ADMIN_BEGIN, "savepoint") == -1) {
		done(st);
		return -1;
	}
	if ((rc = run(s, st, what)) != 0)
		goto fail;
	if (expect_row && sqlite3_changes(SQ(s)->db) == 0) {
		snprintf(s->err, sizeof(s->err), "%s: not found", what);
		rc = -1;
		goto fail;
	}
	if ((rc = run_id(s, ST_GEN_BUMP, "generation")) != 0)
		goto fail;
	if ((rc = run_id(s, ST_ADMIN_END, "release")) != 0)
		goto fail;
	return 0;
fail:
	run_id(s, ST_ADMIN_UNDO, "rollback to");
	run_id(s, ST_ADMIN_END, "release");
	return rc;
}

static int64_t
or_now(int64_t t)
{
	return t != 0 ? t : (int64_t)clock_now();
}

static int
sq_account_bind(struct store *s, sqlite3_stmt *st, const struct account *a)
{
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->name != NULL ? a->name : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int(st, 3, a->entitled);
	sqlite3_bind_int(st, 4, a->sending_enabled);
	sqlite3_bind_int64(st, 5, a->rate);
	sqlite3_bind_int64(st, 6, a->burst);
	sqlite3_bind_int64(st, 7, a->daily_quota);
	sqlite3_bind_int64(st, 8, or_now(a->created));
	return 0;
}

static int
sq_account_create(struct store *s, const struct account *a)
{
	sqlite3_stmt *st = stmt(s, ST_ACCOUNT_INSERT);

	if (st == NULL)
		return -1;
	sq_account_bind(s, st, a);
	return admin_write(s, st, "account create", 0);
}

static int
sq_account_update(struct store *s, const struct account *a)
{
	sqlite3_stmt *st = stmt(s, ST_ACCOUNT_UPDATE);

	if (st == NULL)
		return -1;
	sq_account_bind(s, st, a);
	return admin_write(s, st, "account update", 1);
}

static int
sq_zone_create(struct store *s, const struct zone *z)
{
	sqlite3_stmt *st = stmt(s, ST_ZONE_INSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, z->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, z->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, z->name != NULL ? z->name : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, or_now(z->created));
	return admin_write(s, st, "zone create", 0);
}

/* Binds every column of d as given; a NULL string is stored as "" (the
 * columns are NOT NULL). Defaults are the tenant's business. */
static void
sq_domain_bind(sqlite3_stmt *st, const struct domain *d)
{
	int64_t now = (int64_t)clock_now();

	sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->zone_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, d->name ? d->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, d->enabled);
	sqlite3_bind_text(st, 6, d->selector ? d->selector : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 7,
	                  d->return_path_domain ? d->return_path_domain : "",
	                  -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, d->drop_suppressed);
	sqlite3_bind_int(st, 9, d->preview_enabled);
	bind_opt(st, 10, d->rsa_pem);
	bind_opt(st, 11, d->ed_pem);
	sqlite3_bind_int64(st, 12, d->created != 0 ? d->created : now);
	sqlite3_bind_int64(st, 13, d->modified != 0 ? d->modified : now);
}

static int
sq_domain_create(struct store *s, const struct domain *d)
{
	sqlite3_stmt *st = stmt(s, ST_DOMAIN_INSERT);

	if (st == NULL)
		return -1;
	sq_domain_bind(st, d);
	return admin_write(s, st, "domain create", 0);
}

static int
sq_domain_update(struct store *s, const struct domain *d)
{
	sqlite3_stmt *st = stmt(s, ST_DOMAIN_UPDATE);

	if (st == NULL)
		return -1;
	sq_domain_bind(st, d);
	/* an update is a modification now, whatever the struct says */
	sqlite3_bind_int64(st, 13, (int64_t)clock_now());
	return admin_write(s, st, "domain update", 1);
}

static int
sq_token_create(struct store *s, const struct token *t)
{
	sqlite3_stmt *st = stmt(s, ST_TOKEN_INSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	bind_opt(st, 2, t->account_id);
	sqlite3_bind_text(st, 3, t->name != NULL ? t->name : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, t->perms);
	sqlite3_bind_int64(st, 6, t->expires);
	sqlite3_bind_int(st, 7, t->revoked);
	bind_opt(st, 8, t->global_email);
	sqlite3_bind_int64(st, 9, or_now(t->created));
	return admin_write(s, st, "token create", 0);
}

static int
sq_token_revoke(struct store *s, const char *token_id)
{
	sqlite3_stmt *st = stmt(s, ST_TOKEN_REVOKE);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, token_id, -1, SQLITE_STATIC);
	return admin_write(s, st, "token revoke", 1);
}

static void
read_account(sqlite3_stmt *st, void *out)
{
	struct account *a = out;

	memset(a, 0, sizeof(*a));
	col_id(st, 0, a->id);
	a->name = col_dup(st, 1);
	a->entitled = sqlite3_column_int(st, 2);
	a->sending_enabled = sqlite3_column_int(st, 3);
	a->rate = sqlite3_column_int64(st, 4);
	a->burst = sqlite3_column_int64(st, 5);
	a->daily_quota = sqlite3_column_int64(st, 6);
	a->created = sqlite3_column_int64(st, 7);
}

static void
read_zone(sqlite3_stmt *st, void *out)
{
	struct zone *z = out;

	memset(z, 0, sizeof(*z));
	col_id(st, 0, z->id);
	col_id(st, 1, z->account_id);
	z->name = col_dup(st, 2);
	z->created = sqlite3_column_int64(st, 3);
}

static void
read_domain(sqlite3_stmt *st, void *out)
{
	struct domain *d = out;

	memset(d, 0, sizeof(*d));
	col_id(st, 0, d->id);
	col_id(st, 1, d->zone_id);
	col_id(st, 2, d->account_id);
	d->name = col_dup(st, 3);
	d->enabled = sqlite3_column_int(st, 4);
	d->selector = col_dup(st, 5);
	d->return_path_domain = col_dup(st, 6);
	d->drop_suppressed = sqlite3_column_int(st, 7);
	d->preview_enabled = sqlite3_column_int(st, 8);
	d->rsa_pem = col_dup(st, 9);
	d->ed_pem = col_dup(st, 10);
	d->created = sqlite3_column_int64(st, 11);
	d->modified = sqlite3_column_int64(st, 12);
}

static void
read_token(sqlite3_stmt *st, void *out)
{
	struct token *t = out;
	const unsigned char *h;

	memset(t, 0, sizeof(*t));
	col_id(st, 0, t->id);
	col_id(st, 1, t->account_id);
	t->name = col_dup(st, 2);
	h = sqlite3_column_text(st, 3);
	snprintf(t->hash, sizeof(t->hash), "%s", h ? (const char *)h : "");
	t->perms = (unsigned)sqlite3_column_int64(st, 4);
	t->expires = sqlite3_column_int64(st, 5);
	t->revoked = sqlite3_column_int(st, 6);
	t->global_email = col_dup(st, 7);
	t->created = sqlite3_column_int64(st, 8);
}

/*
 * Steps a bound single-row query: 0 and read(out) when found, 1 when
 * not, -1 on error.
 */
static int
get_one(struct store *s, sqlite3_stmt *st, const char *what,
        void (*read)(sqlite3_stmt *, void *), void *out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		read(st, out);
		done(st);
		return 0;
	}
	if (rc != SQLITE_DONE) {
		set_err(s, what);
		done(st);
		return -1;
	}
	done(st);
	return STORE_NOT_FOUND;
}

static int
sq_account_get(struct store *s, const char *id, struct account *out)
{
	sqlite3_stmt *st = stmt(s, ST_ACCOUNT_GET);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return get_one(s, st, "account get", read_account, out);
}

static int
sq_zone_get(struct store *s, const char *id, struct zone *out)
{
	sqlite3_stmt *st = stmt(s, ST_ZONE_GET);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return get_one(s, st, "zone get", read_zone, out);
}

static int
sq_domain_get_by_name(struct store *s, const char *name, struct domain *out)
{
	sqlite3_stmt *st = stmt(s, ST_DOMAIN_GET_NAME);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return get_one(s, st, "domain get", read_domain, out);
}

/* The store's *_clear() with the signature get_list() calls. */
static void
clear_account(void *p)
{
	account_clear(p);
}

static void
clear_zone(void *p)
{
	zone_clear(p);
}

static void
clear_domain(void *p)
{
	domain_clear(p);
}

static void
clear_token(void *p)
{
	token_clear(p);
}

/*
 * Reads every row of a bound st into a malloc'd array of elements of
 * size sz, with read() filling each; clear() undoes one on failure.
 */
static int
get_list(struct store *s, sqlite3_stmt *st, const char *what, size_t sz,
         void (*read)(sqlite3_stmt *, void *), void (*clear)(void *),
         void **out, size_t *n)
{
	char *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nv = realloc(v, cap * sz)) == NULL) {
				snprintf(s->err, sizeof(s->err),
				         "%s: out of memory", what);
				goto fail;
			}
			v = nv;
		}
		read(st, v + len * sz);
		len++;
	}
	if (rc != SQLITE_DONE) {
		set_err(s, what);
		goto fail;
	}
	done(st);
	*out = v;
	*n = len;
	return 0;
fail:
	done(st);
	for (size_t i = 0; i < len; i++)
		clear(v + i * sz);
	free(v);
	*out = NULL;
	*n = 0;
	return -1;
}

static int
sq_account_list(struct store *s, struct account **out, size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_ACCOUNT_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	rc = get_list(s, st, "account list", sizeof(**out), read_account,
	              clear_account, &v, n);
	*out = v;
	return rc;
}

static int
sq_zone_list(struct store *s, const char *account_id, struct zone **out,
             size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_ZONE_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	bind_opt(st, 1, account_id);
	rc = get_list(s, st, "zone list", sizeof(**out), read_zone, clear_zone,
	              &v, n);
	*out = v;
	return rc;
}

static int
sq_domain_list(struct store *s, const char *account_id, struct domain **out,
               size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_DOMAIN_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	bind_opt(st, 1, account_id);
	rc = get_list(s, st, "domain list", sizeof(**out), read_domain,
	              clear_domain, &v, n);
	*out = v;
	return rc;
}

static int
sq_token_list(struct store *s, const char *account_id, struct token **out,
              size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_TOKEN_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	bind_opt(st, 1, account_id);
	rc = get_list(s, st, "token list", sizeof(**out), read_token,
	              clear_token, &v, n);
	*out = v;
	return rc;
}

static void
read_i64(sqlite3_stmt *st, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(st, 0);
}

static int
sq_generation(struct store *s, int64_t *out)
{
	sqlite3_stmt *st = stmt(s, ST_GEN_GET);
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = get_one(s, st, "generation", read_i64, out)) ==
	    STORE_NOT_FOUND) {
		snprintf(s->err, sizeof(s->err), "generation: no meta row");
		return -1;
	}
	return rc;
}

static int
sq_begin(struct store *s)
{
	return run_id(s, ST_BEGIN, "begin") == 0 ? 0 : -1;
}

static int
sq_commit(struct store *s)
{
	return run_id(s, ST_COMMIT, "commit") == 0 ? 0 : -1;
}

static int
sq_op_begin(struct store *s)
{
	return run_id(s, ST_OP_BEGIN, "savepoint") == 0 ? 0 : -1;
}

static int
sq_op_end(struct store *s, int ok)
{
	char keep[sizeof(s->err)];
	int rc;

	if (ok)
		return run_id(s, ST_OP_RELEASE, "release") == 0 ? 0 : -1;
	/* keep the error that made the caller undo */
	memcpy(keep, s->err, sizeof(keep));
	rc = run_id(s, ST_OP_UNDO, "rollback to") == 0 &&
	             run_id(s, ST_OP_RELEASE, "release") == 0
	         ? 0
	         : -1;
	memcpy(s->err, keep, sizeof(keep));
	return rc;
}

static void
sq_rollback(struct store *s)
{
	/* keep the error that made the caller roll back */
	char keep[sizeof(s->err)];

	memcpy(keep, s->err, sizeof(keep));
	if (sqlite3_get_autocommit(SQ(s)->db) == 0)
		run_id(s, ST_ROLLBACK, "rollback");
	memcpy(s->err, keep, sizeof(keep));
}

/*
 * Inserts m and its recipients; fills m->id and m->rcpts[i].id. A
 * queued recipient is due at once (next_attempt = created). m->created
 * is unix ms, 0 = now; a value that can only be seconds is converted.
 */
static int
sq_message_insert(struct store *s, struct store_msg *m)
{
	sqlite3_stmt *st;
	int64_t now = clock_now_ms();
	int rc;

	if (m->created == 0)
		m->created = now;
	else if (m->created < 100000000000LL) /* before 1973 in ms: seconds */
		m->created *= 1000;
	if ((st = stmt(s, ST_MSG_INSERT)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, m->account_id, -1, SQLITE_STATIC);
	bind_opt(st, 2, m->domain_id);
	sqlite3_bind_text(st, 3, m->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->mail_from != NULL ? m->mail_from : "", -1,
	                  SQLITE_STATIC);
	if (m->subject != NULL)
		sqlite3_bind_text(st, 5, m->subject, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_blob64(st, 6, m->raw != NULL ? m->raw : "", m->raw_len,
	                    SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (int64_t)m->raw_len);
	sqlite3_bind_int(st, 8, m->preview);
	sqlite3_bind_int64(st, 9, m->created);
	if ((rc = run(s, st, "message insert")) != 0)
		return rc;
	m->id = sqlite3_last_insert_rowid(SQ(s)->db);
	if ((st = stmt(s, ST_RCPT_INSERT)) == NULL)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct store_rcpt *r = &m->rcpts[i];

		sqlite3_bind_int64(st, 1, m->id);
		sqlite3_bind_text(st, 2, r->address, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, r->state);
		sqlite3_bind_int64(st, 4,
		                   r->state == RCPT_QUEUED ? m->created : 0);
		sqlite3_bind_int64(st, 5, now);
		if (r->state == RCPT_QUEUED && s->lease_owner[0] != '\0') {
			sqlite3_bind_text(st, 6, s->lease_owner, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_int64(st, 7, now + s->lease_ms);
		} else {
			sqlite3_bind_null(st, 6);
			sqlite3_bind_int64(st, 7, 0);
		}
		if ((rc = run(s, st, "recipient insert")) != 0)
			return rc;
		r->id = sqlite3_last_insert_rowid(SQ(s)->db);
	}
	if (m->idem_key == NULL)
		return 0;
	/* SPEC §2.4: in the message's transaction, so a key is recorded
	 * exactly when its message is. */
	if ((st = stmt(s, ST_IDEM_PUT)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, m->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->idem_hash != NULL ? m->idem_hash : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, m->id);
	sqlite3_bind_text(st, 5, m->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, m->created);
	sqlite3_bind_text(st, 7, m->idem_endpoint, -1, SQLITE_STATIC);
	return run(s, st, "idempotency insert");
}

static int
sq_outcome_apply(struct store *s, const struct store_outcome *o)
{
	sqlite3_stmt *st = stmt(s, ST_OUTCOME);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, o->rcpt_id);
	sqlite3_bind_int(st, 2, o->state);
	sqlite3_bind_int(st, 3, o->attempts);
	sqlite3_bind_int64(st, 4, o->last_attempt);
	sqlite3_bind_int64(st, 5, o->next_attempt);
	if (o->reply != NULL)
		sqlite3_bind_text(st, 6, o->reply, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int64(st, 7, clock_now_ms());
	sqlite3_bind_int(st, 8, o->keep_lease);
	if (run(s, st, "outcome") != 0)
		return -1;
	/* final already (the operator dropped it meanwhile), or gone */
	return sqlite3_changes(SQ(s)->db) == 0 ? STORE_NOT_FOUND : 0;
}

/* The due recipients of one state, in order, each leased to s's owner
 * until `until` and given to cb; stops past limit once a message is
 * whole. The number taken, or -1. */
static int
lease_state(struct store *s, int state, int64_t now, int64_t horizon,
            int64_t until, size_t limit, int64_t **ids, size_t *nids,
            size_t *cap, store_pending_fn *cb, void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_LEASE_DUE);
	struct pending_rcpt r;
	int64_t last_msg = 0, *nv;
	size_t n0 = *nids;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, horizon);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, s->lease_owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, s->lease_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.rcpt_id = sqlite3_column_int64(st, 0);
		r.msg_id = sqlite3_column_int64(st, 1);
		if (*nids >= limit && r.msg_id != last_msg)
			break;
		if (*nids == *cap) {
			size_t c = *cap ? *cap * 2 : 256;

			if ((nv = realloc(*ids, c * sizeof(*nv))) == NULL) {
				snprintf(s->err, sizeof(s->err),
				         "lease: out of memory");
				done(st);
				return -1;
			}
			*ids = nv;
			*cap = c;
		}
		r.message_id = (char *)sqlite3_column_text(st, 2);
		r.address = (char *)sqlite3_column_text(st, 3);
		r.domain_id = (char *)sqlite3_column_text(st, 4);
		r.state = (enum rcpt_state)sqlite3_column_int(st, 5);
		r.attempts = sqlite3_column_int(st, 6);
		r.next_attempt = sqlite3_column_int64(st, 7);
		r.created_ms = sqlite3_column_int64(st, 8);
		r.lease_until = until;
		if (cb(arg, &r) != 0) {
			snprintf(s->err, sizeof(s->err),
			         "lease: out of memory");
			done(st);
			return -1;
		}
		(*ids)[(*nids)++] = r.rcpt_id;
		last_msg = r.msg_id;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		set_err(s, "lease: due recipients");
		done(st);
		return -1;
	}
	done(st);
	for (size_t i = n0; i < *nids; i++) {
		if ((st = stmt(s, ST_LEASE_TAKE)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, (*ids)[i]);
		sqlite3_bind_text(st, 2, s->lease_owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, until);
		if (run(s, st, "lease") != 0)
			return -1;
	}
	return (int)(*nids - n0);
}

/* The earliest end of another owner's lease on a recipient in state
 * due by horizon, into *out when earlier (or *out is 0); -1 on error. */
static int
lease_freed(struct store *s, int state, int64_t now, int64_t horizon,
            int64_t *out)
{
	sqlite3_stmt *st = stmt(s, ST_LEASE_FREED);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, horizon);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, s->lease_owner, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL) {
		int64_t t = sqlite3_column_int64(st, 0);

		if (*out == 0 || t < *out)
			*out = t;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		set_err(s, "lease: next freed");
		done(st);
		return -1;
	}
	done(st);
	return 0;
}

static int
sq_lease_claim(struct store *s, int64_t now, int64_t horizon, size_t limit,
               store_pending_fn *cb, void *arg, int64_t *next_freed)
{
	int64_t *ids = NULL, until = now + s->lease_ms;
	size_t nids = 0, cap = 0;
	int rc = -1;

	*next_freed = 0;
	if (s->lease_owner[0] == '\0') {
		snprintf(s->err, sizeof(s->err), "lease: no owner set");
		return -1;
	}
	/* queued first: mail nobody has tried yet */
	if (lease_state(s, RCPT_QUEUED, now, horizon, until, limit, &ids, &nids,
	                &cap, cb, arg) == -1 ||
	    lease_state(s, RCPT_DEFERRED, now, horizon, until, limit, &ids,
	                &nids, &cap, cb, arg) == -1 ||
	    /* a full page leaves free ones behind: no need to look */
	    (nids < limit &&
	     (lease_freed(s, RCPT_QUEUED, now, horizon, next_freed) == -1 ||
	      lease_freed(s, RCPT_DEFERRED, now, horizon, next_freed) == -1)))
		goto out;
	rc = (int)nids;
out:
	free(ids);
	return rc;
}

static int
sq_lease_renew(struct store *s, const int64_t *ids, size_t n, int64_t until)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < n; i++) {
		if ((st = stmt(s, ST_LEASE_RENEW)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, ids[i]);
		sqlite3_bind_text(st, 2, s->lease_owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, until);
		if (run(s, st, "lease renewal") != 0)
			return -1;
	}
	return 0;
}

static int
sq_rcpt_of(struct store *s, int64_t rcpt_id, int64_t *msg_id,
           enum rcpt_state *state, char *addr, size_t addrlen)
{
	sqlite3_stmt *st = stmt(s, ST_RCPT_OF);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, rcpt_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*msg_id = sqlite3_column_int64(st, 0);
		*state = (enum rcpt_state)sqlite3_column_int(st, 1);
		snprintf(addr, addrlen, "%s",
		         (const char *)sqlite3_column_text(st, 2));
		done(st);
		return 0;
	}
	if (rc != SQLITE_DONE)
		set_err(s, "recipient read");
	done(st);
	return rc == SQLITE_DONE ? STORE_NOT_FOUND : -1;
}

static int
sq_rcpt_find(struct store *s, int64_t msg_id, const char *addr,
             int64_t *rcpt_id, enum rcpt_state *state)
{
	sqlite3_stmt *st = stmt(s, ST_RCPT_FIND);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, msg_id);
	sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*rcpt_id = sqlite3_column_int64(st, 0);
		*state = (enum rcpt_state)sqlite3_column_int(st, 1);
		done(st);
		return 0;
	}
	if (rc != SQLITE_DONE)
		set_err(s, "recipient lookup");
	done(st);
	return rc == SQLITE_DONE ? STORE_NOT_FOUND : -1;
}

static int
sq_rcpt_bounce(struct store *s, int64_t rcpt_id, const char *reply, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_RCPT_BOUNCE);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, rcpt_id);
	bind_opt(st, 2, reply);
	sqlite3_bind_int64(st, 3, now);
	if (run(s, st, "asynchronous bounce") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db) == 0 ? STORE_NOT_FOUND : 0;
}

static int
sq_lease_release(struct store *s)
{
	sqlite3_stmt *st = stmt(s, ST_LEASE_RELEASE);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, s->lease_owner, -1, SQLITE_STATIC);
	if (run(s, st, "lease release") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db);
}

/* "<x@y>" as given, or x@y wrapped in brackets (SPEC §8.3). */
static const char *
msgid_norm(const char *id, char *buf, size_t len)
{
	if (id[0] == '<')
		return id;
	snprintf(buf, len, "<%s>", id);
	return buf;
}

/* Appends the recipients of message row id to *v (*n of them). */
static int
read_rcpts_into(struct store *s, int64_t id, struct rcpt_status **v, size_t *n)
{
	sqlite3_stmt *st;
	struct rcpt_status *nv;
	size_t cap = 0;
	int rc;

	if ((st = stmt(s, ST_RCPTS_OF)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct rcpt_status *r;

		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			nv = realloc(*v, cap * sizeof(*nv));
			if (nv == NULL) {
				snprintf(s->err, sizeof(s->err),
				         "status: out of memory");
				done(st);
				return -1;
			}
			*v = nv;
		}
		r = &(*v)[(*n)++];
		r->address = col_dup(st, 0);
		r->state = (enum rcpt_state)sqlite3_column_int(st, 1);
		r->attempts = sqlite3_column_int(st, 2);
		r->last_attempt = sqlite3_column_int64(st, 3);
		r->next_attempt = sqlite3_column_int64(st, 4);
		r->reply = col_dup(st, 5);
		r->id = sqlite3_column_int64(st, 6);
	}
	if (rc != SQLITE_DONE) {
		set_err(s, "message status");
		done(st);
		return -1;
	}
	done(st);
	return 0;
}

static int
read_rcpts(struct store *s, int64_t id, struct msg_status *out)
{
	return read_rcpts_into(s, id, &out->rcpts, &out->nrcpts);
}

static int
sq_message_status(struct store *s, const char *account_id,
                  const char *message_id, struct msg_status *out)
{
	sqlite3_stmt *st;
	char buf[1024];
	int64_t id;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((st = stmt(s, ST_MSG_BY_ID)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, msgid_norm(message_id, buf, sizeof(buf)), -1,
	                  SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			set_err(s, "message status");
		done(st);
		return rc == SQLITE_DONE ? STORE_NOT_FOUND : -1;
	}
	id = sqlite3_column_int64(st, 0);
	out->message_id = col_dup(st, 1);
	out->created = sqlite3_column_int64(st, 2);
	done(st);
	if (read_rcpts(s, id, out) == -1) {
		msg_status_clear(out);
		return -1;
	}
	return 0;
}

static int
sq_idem_get(struct store *s, const char *account_id, const char *key,
            int64_t since_ms, char body_hash[65],
            char endpoint[STORE_ENDPOINT_MAX], struct msg_status *out)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	memset(out, 0, sizeof(*out));
	body_hash[0] = '\0';
	endpoint[0] = '\0';
	if ((st = stmt(s, ST_IDEM_GET)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since_ms);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			set_err(s, "idempotency");
		done(st);
		return rc == SQLITE_DONE ? STORE_NOT_FOUND : -1;
	}
	snprintf(body_hash, 65, "%s",
	         sqlite3_column_text(st, 0) != NULL
	             ? (const char *)sqlite3_column_text(st, 0)
	             : "");
	id = sqlite3_column_int64(st, 1);
	out->message_id = col_dup(st, 2);
	out->created = sqlite3_column_int64(st, 3);
	if (sqlite3_column_text(st, 4) != NULL)
		snprintf(endpoint, STORE_ENDPOINT_MAX, "%s",
		         (const char *)sqlite3_column_text(st, 4));
	done(st);
	if (out->message_id == NULL || read_rcpts(s, id, out) == -1) {
		msg_status_clear(out);
		return -1;
	}
	return 0;
}

static void
sq_close(struct store *s)
{
	struct sqlite_store *q = SQ(s);

	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q);
}

static int
schema_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Applies the migrations past user_version in one transaction. A store
 * already at the current version takes no write lock, so opening a
 * reader never waits for the writer (or for another process's lock).
 */
static int
migrate(sqlite3 *db, char *err, size_t errlen)
{
	char sql[64];
	int version;

	if (schema_version(db, &version) == -1)
		goto fail;
	if (version == NMIGRATIONS)
		return 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	/* Again under the lock: another process may have migrated. */
	if (schema_version(db, &version) == -1)
		goto fail;
	if (version > NMIGRATIONS) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		snprintf(err, errlen,
		         "schema version %d is newer than this pigeon (%d)",
		         version, NMIGRATIONS);
		return -1;
	}
	for (; version < NMIGRATIONS; version++)
		if (sqlite3_exec(db, migrations[version], NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIGRATIONS);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "schema migration: %s", sqlite3_errmsg(db));
	if (sqlite3_get_autocommit(db) == 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

struct store *
sqlite_store_open(const char *path, char *err, size_t errlen)
{
	struct sqlite_store *q = NULL;
	sqlite3_stmt *st = NULL;
	char why[256];
	const char *mode;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "cannot open %s: out of memory", path);
		return NULL;
	}
	q->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &q->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(why, sizeof(why), "%s",
		         q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &st,
	                       NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(q->db));
		goto fail;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		snprintf(why, sizeof(why), "cannot use WAL (journal mode %s)",
		         mode ? mode : "?");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(q->db,
	                 "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(q->db));
		goto fail;
	}
	if (migrate(q->db, why, sizeof(why)) == -1)
		goto fail;
	return &q->base;
fail:
	snprintf(err, errlen, "cannot open %s: %s", path, why);
	sqlite3_finalize(st);
	sqlite3_close(q->db);
	free(q);
	return NULL;
}

static int
sq_idem_purge(struct store *s, int64_t before_ms, int limit)
{
	sqlite3_stmt *st;

	if ((st = stmt(s, ST_IDEM_PURGE)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, limit);
	if (run(s, st, "idempotency purge") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db);
}

/*
 * Deletes at most limit messages created before before_ms whose
 * recipients are all final, oldest first, with their recipients, their
 * events and the Idempotency-Key records naming them, inside the caller's
 * transaction: the number of messages deleted, or -1.
 */
static int
sq_message_purge(struct store *s, int64_t before_ms, int limit)
{
	static const enum st del[] = {ST_MSG_DEL_IDEM, ST_MSG_DEL_EVENTS,
	                              ST_MSG_DEL_RCPTS, ST_MSG_DEL};
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	int n = 0, rc = SQLITE_DONE;

	if (limit <= 0)
		return 0;
	if ((ids = calloc((size_t)limit, sizeof(*ids))) == NULL) {
		snprintf(s->err, sizeof(s->err),
		         "message purge: out of memory");
		return -1;
	}
	/* The ids first: rows are not deleted under a running SELECT. */
	if ((st = stmt(s, ST_MSG_PICK_OLD)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, limit);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	if (n < limit && rc != SQLITE_DONE) {
		set_err(s, "message purge");
		done(st);
		goto fail;
	}
	done(st);
	/* Children first: recipients refer to their message. */
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(del) / sizeof(del[0]); k++) {
			if ((st = stmt(s, del[k])) == NULL)
				goto fail;
			sqlite3_bind_int64(st, 1, ids[i]);
			if (run(s, st, "message purge") != 0)
				goto fail;
		}
	free(ids);
	return n;
fail:
	free(ids);
	return -1;
}

/* Empties the body of message row id when it was sent without preview
 * and its recipients are all final: 1 dropped, 0 kept, -1 error. */
static int
sq_message_body_drop(struct store *s, int64_t id)
{
	sqlite3_stmt *st;

	if ((st = stmt(s, ST_MSG_BODY_DROP)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (run(s, st, "message body drop") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db) > 0;
}

/* The database file's size and the part of it on the free list, bytes. */
static int
sq_size(struct store *s, int64_t *bytes, int64_t *free_bytes)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = stmt(s, ST_SIZE)) == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		set_err(s, "store size");
		done(st);
		return -1;
	}
	*bytes = sqlite3_column_int64(st, 0);
	*free_bytes = sqlite3_column_int64(st, 1);
	done(st);
	return 0;
}

/*
 * A message reader (store.h): the opening store's connection, borrowed,
 * and the row it reads. Opening one costs a statement, not a connection
 * (200 GETs at once opened 200 connections, and a send waited behind
 * them). Each read is one short transaction: the row is checked to be still the
 * message opened (a row id can be given again once the newest message is
 * deleted), then read with incremental blob I/O, which copies only the
 * pages of the piece asked for. Between reads nothing is held, so a
 * client that never reads pins no WAL snapshot and blocks no checkpoint.
 */
struct sq_reader {
	struct store_reader base; /* first */
	sqlite3 *db;
	sqlite3_stmt *check;
	int64_t row;
	uint64_t size;
	char account_id[ID_LEN + 1];
	char message_id[1024];
};

static void
reader_err(struct sq_reader *r, const char *what)
{
	snprintf(r->base.err, sizeof(r->base.err), "%s: %s", what,
	         sqlite3_errmsg(r->db));
}

static int
sq_reader_read(struct store_reader *base, uint64_t off, void *buf, size_t n,
               size_t *got)
{
	struct sq_reader *r = (struct sq_reader *)base;
	sqlite3_blob *b = NULL;
	int rc;

	if (off >= r->size || n == 0)
		return 0;
	if (n > r->size - off)
		n = (size_t)(r->size - off);
	if (n > INT32_MAX)
		n = INT32_MAX;
	if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		reader_err(r, "message read: begin");
		return -1;
	}
	sqlite3_bind_int64(r->check, 1, r->row);
	sqlite3_bind_text(r->check, 2, r->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(r->check, 3, r->message_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(r->check);
	if (rc == SQLITE_DONE)
		snprintf(r->base.err, sizeof(r->base.err),
		         "message read: the message is gone");
	else if (rc != SQLITE_ROW)
		reader_err(r, "message read");
	else if (sqlite3_blob_open(r->db, "main", "messages", "raw", r->row, 0,
	                           &b) != SQLITE_OK)
		reader_err(r, "message read: blob");
	else if ((uint64_t)sqlite3_blob_bytes(b) != r->size)
		snprintf(r->base.err, sizeof(r->base.err),
		         "message read: the message changed");
	else if (sqlite3_blob_read(b, buf, (int)n, (int)off) != SQLITE_OK)
		reader_err(r, "message read");
	else
		*got = n;
	sqlite3_blob_close(b);
	sqlite3_reset(r->check);
	sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
	return *got == n ? 0 : -1;
}

static void
sq_reader_close(struct store_reader *base)
{
	struct sq_reader *r = (struct sq_reader *)base;

	sqlite3_finalize(r->check);
	free(r);
}

static int
sq_message_reader_open(struct store *s, const char *account_id,
                       const char *message_id, struct store_reader **out,
                       uint64_t *size)
{
	sqlite3_stmt *st = stmt(s, ST_RAW_REF);
	struct sq_reader *r = NULL;
	const char *mid;
	char buf[1024];
	int64_t row = 0, len = 0;
	int rc;

	if (st == NULL)
		return -1;
	mid = msgid_norm(message_id, buf, sizeof(buf));
	if (strlen(mid) >= sizeof(r->message_id) || strlen(account_id) > ID_LEN)
		return STORE_NOT_FOUND;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mid, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row = sqlite3_column_int64(st, 0);
		len = sqlite3_column_int64(st, 1);
		rc = sqlite3_column_int(st, 2) ? 0 : STORE_NOT_FOUND;
	} else if (rc == SQLITE_DONE)
		rc = STORE_NOT_FOUND;
	else {
		set_err(s, "message reader");
		rc = -1;
	}
	done(st);
	if (rc != 0)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(s->err, sizeof(s->err),
		         "message reader: out of memory");
		return -1;
	}
	r->base.read = sq_reader_read;
	r->base.close = sq_reader_close;
	r->row = row;
	r->size = (uint64_t)len;
	snprintf(r->account_id, sizeof(r->account_id), "%s", account_id);
	snprintf(r->message_id, sizeof(r->message_id), "%s", mid);
	r->db = SQ(s)->db;
	if (sqlite3_prepare_v2(r->db,
	                       "SELECT 1 FROM messages WHERE id = ?1 AND "
	                       "account_id = ?2 AND message_id = ?3",
	                       -1, &r->check, NULL) != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err), "message reader: %s",
		         sqlite3_errmsg(r->db));
		goto fail;
	}
	*out = &r->base;
	*size = r->size;
	return 0;
fail:
	sq_reader_close(&r->base);
	return -1;
}

static int
sq_message_info(struct store *s, int64_t msg_id, struct msg_info *out)
{
	sqlite3_stmt *st = stmt(s, ST_MSG_INFO);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			set_err(s, "message info");
		done(st);
		return rc == SQLITE_DONE ? STORE_NOT_FOUND : -1;
	}
	out->id = msg_id;
	col_id(st, 0, out->account_id);
	out->message_id = col_dup(st, 1);
	out->mail_from = col_dup(st, 2);
	out->subject = col_dup(st, 3);
	out->domain = col_dup(st, 4);
	out->created = sqlite3_column_int64(st, 5);
	done(st);
	/* NOT NULL columns: NULL here is a failed copy */
	if (out->message_id == NULL || out->mail_from == NULL) {
		snprintf(s->err, sizeof(s->err), "message info: out of memory");
		msg_info_clear(out);
		return -1;
	}
	return 0;
}

static int
sq_event_insert(struct store *s, const struct store_event *e)
{
	sqlite3_stmt *st = stmt(s, ST_EVENT_INSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, e->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, e->msg_id);
	sqlite3_bind_text(st, 4, e->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, e->rcpt_id);
	sqlite3_bind_text(st, 6, e->recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, e->type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, e->created);
	sqlite3_bind_text(st, 9, e->payload, -1, SQLITE_STATIC);
	return run(s, st, "event insert") == 0 ? 0 : -1;
}

static void
read_event(sqlite3_stmt *st, void *out)
{
	struct store_event *e = out;

	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(st, 0);
	col_id(st, 1, e->event_id);
	col_id(st, 2, e->account_id);
	e->msg_id = sqlite3_column_int64(st, 3);
	e->message_id = col_dup(st, 4);
	e->rcpt_id = sqlite3_column_int64(st, 5);
	e->recipient = col_dup(st, 6);
	e->type = col_dup(st, 7);
	e->created = sqlite3_column_int64(st, 8);
	e->payload = col_dup(st, 9);
}

static void
clear_event(void *p)
{
	event_clear(p);
}

static int
sq_events_list(struct store *s, const char *account_id, int64_t after_id,
               int limit, const struct event_filter *f,
               struct store_event **out, size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_EVENTS_LIST);
	char buf[1024];
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after_id);
	bind_opt(st, 3, f->type);
	if (f->message_id != NULL)
		sqlite3_bind_text(st, 4,
		                  msgid_norm(f->message_id, buf, sizeof(buf)),
		                  -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, f->since);
	sqlite3_bind_int(st, 6, limit);
	rc = get_list(s, st, "event list", sizeof(**out), read_event,
	              clear_event, &v, n);
	*out = v;
	return rc;
}

static int
sq_suppression_upsert(struct store *s, const struct suppression *sp)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_UPSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, sp->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sp->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sp->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, supp_reason_name(sp->reason), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(
	    st, 5, sp->scope_value != NULL ? "sending_domain" : "account", -1,
	    SQLITE_STATIC);
	bind_opt(st, 6, sp->scope_value);
	bind_opt(st, 7, sp->note);
	sqlite3_bind_int64(st, 8,
	                   sp->created != 0 ? sp->created : clock_now_ms());
	if (sp->expires_at != 0)
		sqlite3_bind_int64(st, 9, sp->expires_at);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_int(st, 10, sp->read_only);
	return run(s, st, "suppression") == 0 ? 0 : -1;
}

/* The stored name of a reason back to its enum; unknown ones read as
 * manual (the CHECK constraint admits none). */
static enum supp_reason
supp_reason_of(const unsigned char *t)
{
	for (int r = SUPP_MANUAL; t != NULL && r <= SUPP_POLICY; r++)
		if (strcmp((const char *)t, supp_reason_name(r)) == 0)
			return (enum supp_reason)r;
	return SUPP_MANUAL;
}

static void
read_suppression(sqlite3_stmt *st, void *out)
{
	struct suppression *sp = out;

	memset(sp, 0, sizeof(*sp));
	col_id(st, 0, sp->id);
	col_id(st, 1, sp->account_id);
	sp->email = col_dup(st, 2);
	sp->reason = supp_reason_of(sqlite3_column_text(st, 3));
	sp->scope_value = col_dup(st, 4);
	sp->note = col_dup(st, 5);
	sp->created = sqlite3_column_int64(st, 6);
	sp->expires_at = sqlite3_column_int64(st, 7); /* NULL reads 0 */
	sp->read_only = sqlite3_column_int(st, 8);
}

static int
sq_suppression_find(struct store *s, const char *account_id, const char *email,
                    const char *domain_name, int64_t now,
                    struct suppression *out)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_FIND);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
	bind_opt(st, 3, domain_name);
	sqlite3_bind_int64(st, 4, now);
	return get_one(s, st, "suppression find", read_suppression, out);
}

static int
sq_suppression_purge(struct store *s, int64_t before_ms, int limit)
{
	sqlite3_stmt *st;

	if ((st = stmt(s, ST_SUPP_PURGE)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, limit);
	if (run(s, st, "suppression purge") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db);
}

static int
sq_message_load(struct store *s, int64_t msg_id, struct store_msg_load *out)
{
	sqlite3_stmt *st = stmt(s, ST_MSG_LOAD);
	const void *raw;
	const char *name, *rp;
	int n, rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		done(st);
		return STORE_NOT_FOUND;
	}
	if (rc != SQLITE_ROW) {
		set_err(s, "message load");
		done(st);
		return -1;
	}
	raw = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	name = (const char *)sqlite3_column_text(st, 1);
	rp = (const char *)sqlite3_column_text(st, 2);
	out->raw = malloc((size_t)n + 1);
	out->domain = strdup(name != NULL ? name : "");
	out->return_path_domain = strdup(rp != NULL ? rp : "");
	if (out->raw == NULL || out->domain == NULL ||
	    out->return_path_domain == NULL) {
		store_msg_load_clear(out);
		snprintf(s->err, sizeof(s->err), "message load: out of memory");
		done(st);
		return -1;
	}
	if (n > 0)
		memcpy(out->raw, raw, (size_t)n);
	out->raw[n] = '\0';
	out->raw_len = (size_t)n;
	done(st);
	return 0;
}

static int
sq_queue_list(struct store *s, int state, int limit, struct queue_row **out,
              size_t *n, int64_t *total)
{
	sqlite3_stmt *st;
	struct queue_row *v = NULL, *r;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	*total = 0;
	if ((st = stmt(s, ST_QUEUE_COUNT)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, state);
	if (sqlite3_step(st) != SQLITE_ROW) {
		set_err(s, "queue count");
		done(st);
		return -1;
	}
	*total = sqlite3_column_int64(st, 0);
	done(st);
	if ((st = stmt(s, ST_QUEUE_LIST)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct queue_row *nv;

			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*nv))) == NULL) {
				snprintf(s->err, sizeof(s->err),
				         "queue list: out of memory");
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
		}
		r = &v[(*n)++];
		r->rcpt_id = sqlite3_column_int64(st, 0);
		r->msg_id = sqlite3_column_int64(st, 1);
		r->message_id = col_dup(st, 2);
		r->address = col_dup(st, 3);
		r->state = (enum rcpt_state)sqlite3_column_int(st, 4);
		r->attempts = sqlite3_column_int(st, 5);
		r->last_attempt = sqlite3_column_int64(st, 6);
		r->next_attempt = sqlite3_column_int64(st, 7);
		r->reply = col_dup(st, 8);
	}
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_NOMEM)
			set_err(s, "queue list");
		done(st);
		queue_row_list_free(v, *n);
		*n = 0;
		return -1;
	}
	done(st);
	*out = v;
	return 0;
}

static int
sq_queue_message(struct store *s, const char *message_id, struct queue_msg *out)
{
	sqlite3_stmt *st;
	char buf[1024];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((st = stmt(s, ST_QUEUE_MSG)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, msgid_norm(message_id, buf, sizeof(buf)), -1,
	                  SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			set_err(s, "queue message");
		done(st);
		return rc == SQLITE_DONE ? STORE_NOT_FOUND : -1;
	}
	out->id = sqlite3_column_int64(st, 0);
	col_id(st, 1, out->account_id);
	out->message_id = col_dup(st, 2);
	out->mail_from = col_dup(st, 3);
	out->subject = col_dup(st, 4);
	out->size = sqlite3_column_int64(st, 5);
	out->created = sqlite3_column_int64(st, 6);
	done(st);
	if (out->message_id == NULL ||
	    read_rcpts_into(s, out->id, &out->rcpts, &out->nrcpts) == -1) {
		queue_msg_clear(out);
		return -1;
	}
	return 0;
}

static int
sq_queue_retry(struct store *s, int64_t msg_id, const char *domain, int64_t now,
               int64_t *changed)
{
	sqlite3_stmt *st = stmt(s, ST_QUEUE_RETRY);

	*changed = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, msg_id);
	bind_opt(st, 2, domain);
	sqlite3_bind_int64(st, 3, now);
	if (run(s, st, "queue retry") != 0)
		return -1;
	*changed = sqlite3_changes(SQ(s)->db);
	return 0;
}

/* How long a request row is kept: a server reads it at once. */
#define REQUEST_KEEP_MS (3600 * 1000)

static int
sq_request_add(struct store *s, const struct queue_req *r)
{
	sqlite3_stmt *st;
	int64_t now = clock_now_ms();

	if ((st = stmt(s, ST_REQ_PURGE)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now - REQUEST_KEEP_MS);
	if (run(s, st, "request purge") != 0 ||
	    (st = stmt(s, ST_REQ_ADD)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, (int)r->kind);
	sqlite3_bind_int64(st, 2, r->msg_id);
	bind_opt(st, 3, r->destination);
	sqlite3_bind_int64(st, 4, now);
	return run(s, st, "request") == 0 ? 0 : -1;
}

static int
sq_request_last(struct store *s, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_REQ_LAST);

	*id = 0;
	if (st == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		set_err(s, "request last");
		done(st);
		return -1;
	}
	*id = sqlite3_column_int64(st, 0);
	done(st);
	return 0;
}

static int
sq_requests_after(struct store *s, int64_t after_id, store_request_fn *cb,
                  void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_REQ_AFTER);
	struct queue_req r;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.id = sqlite3_column_int64(st, 0);
		r.kind = (enum queue_req_kind)sqlite3_column_int(st, 1);
		r.msg_id = sqlite3_column_int64(st, 2);
		r.destination = (const char *)sqlite3_column_text(st, 3);
		if (cb(arg, &r) != 0) {
			done(st);
			return 0;
		}
	}
	if (rc != SQLITE_DONE) {
		set_err(s, "requests");
		done(st);
		return -1;
	}
	done(st);
	return 0;
}

static int
sq_dest_put(struct store *s, const struct store_dest *d)
{
	sqlite3_stmt *st = stmt(s, ST_DEST_PUT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, d->route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->domain, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, d->cap);
	sqlite3_bind_int(st, 4, d->full);
	sqlite3_bind_int64(st, 5, d->paused_until);
	sqlite3_bind_int64(st, 6, d->throttled_at);
	bind_opt(st, 7, d->reply);
	return run(s, st, "destination") == 0 ? 0 : -1;
}

static int
sq_dest_del(struct store *s, const char *route, const char *domain)
{
	sqlite3_stmt *st = stmt(s, ST_DEST_DEL);

	if (st == NULL)
		return -1;
	bind_opt(st, 1, route);
	bind_opt(st, 2, domain);
	return run(s, st, "destination delete") == 0 ? 0 : -1;
}

static int
sq_dest_list(struct store *s, struct store_dest **out, size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_DEST_LIST);
	struct store_dest *v = NULL, *d;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct store_dest *nv;

			cap = cap ? cap * 2 : 8;
			if ((nv = realloc(v, cap * sizeof(*nv))) == NULL) {
				snprintf(s->err, sizeof(s->err),
				         "destinations: out of memory");
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
		}
		d = &v[(*n)++];
		memset(d, 0, sizeof(*d));
		snprintf(d->route, sizeof(d->route), "%s",
		         (const char *)sqlite3_column_text(st, 0));
		d->domain = col_dup(st, 1);
		d->cap = sqlite3_column_int(st, 2);
		d->full = sqlite3_column_int(st, 3);
		d->paused_until = sqlite3_column_int64(st, 4);
		d->throttled_at = sqlite3_column_int64(st, 5);
		d->reply = col_dup(st, 6);
	}
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_NOMEM)
			set_err(s, "destinations");
		done(st);
		store_dest_list_free(v, *n);
		*n = 0;
		return -1;
	}
	done(st);
	*out = v;
	return 0;
}

/* SPEC §8.1 management (store.h). */
static int
sq_suppression_add(struct store *s, const struct suppression *sp,
                   struct suppression *out, int *added)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_ADD);
	const char *type =
	    sp->scope_value != NULL ? "sending_domain" : "account";

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, sp->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sp->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sp->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, supp_reason_name(sp->reason), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 5, type, -1, SQLITE_STATIC);
	bind_opt(st, 6, sp->scope_value);
	bind_opt(st, 7, sp->note);
	sqlite3_bind_int64(st, 8,
	                   sp->created != 0 ? sp->created : clock_now_ms());
	if (sp->expires_at != 0)
		sqlite3_bind_int64(st, 9, sp->expires_at);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_int(st, 10, sp->read_only);
	if (run(s, st, "suppression add") != 0)
		return -1;
	*added = sqlite3_changes(SQ(s)->db) > 0;
	if ((st = stmt(s, ST_SUPP_BY_KEY)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, sp->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sp->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sp->scope_value ? sp->scope_value : "", -1,
	                  SQLITE_STATIC);
	switch (get_one(s, st, "suppression add", read_suppression, out)) {
	case 0:
		return 0;
	case STORE_NOT_FOUND: /* deleted by another connection meanwhile */
		snprintf(s->err, sizeof(s->err),
		         "suppression add: the entry is gone");
		return -1;
	default:
		return -1;
	}
}

static int
sq_suppression_get(struct store *s, const char *account_id, const char *id,
                   struct suppression *out)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_GET);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return get_one(s, st, "suppression get", read_suppression, out);
}

static void
clear_suppression(void *p)
{
	suppression_clear(p);
}

static int
sq_suppression_list(struct store *s, const char *account_id,
                    const char *after_id, int limit,
                    const struct supp_filter *f, struct suppression **out,
                    size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, after_id != NULL ? after_id : "", -1,
	                  SQLITE_STATIC);
	bind_opt(st, 3, f->email);
	bind_opt(st, 4, f->search);
	bind_opt(st, 5, f->reason >= 0 ? supp_reason_name(f->reason) : NULL);
	bind_opt(st, 6, f->scope_type);
	bind_opt(st, 7, f->scope_value);
	sqlite3_bind_int64(st, 8, f->now);
	sqlite3_bind_int(st, 9, limit);
	rc = get_list(s, st, "suppression list", sizeof(**out),
	              read_suppression, clear_suppression, &v, n);
	*out = v;
	return rc;
}

static int
sq_suppression_edit(struct store *s, const char *account_id, const char *id,
                    const struct supp_edit *e)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_EDIT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, e->set_expires);
	if (e->expires_at != 0)
		sqlite3_bind_int64(st, 4, e->expires_at);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int(st, 5, e->set_note);
	bind_opt(st, 6, e->note);
	if (run(s, st, "suppression edit") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db) > 0 ? 0 : STORE_NOT_FOUND;
}

static int
sq_suppression_delete(struct store *s, const char *account_id, const char *id)
{
	sqlite3_stmt *st = stmt(s, ST_SUPP_DELETE);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (run(s, st, "suppression delete") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db) > 0 ? 0 : STORE_NOT_FOUND;
}

/* SPEC §8.4: the daily quota's counts. */
static int
sq_usage_put(struct store *s, const char *account_id, int64_t day, int64_t sent)
{
	sqlite3_stmt *st = stmt(s, ST_USAGE_PUT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, day);
	sqlite3_bind_int64(st, 3, sent);
	return run(s, st, "usage") == 0 ? 0 : -1;
}

static int
sq_usage_day(struct store *s, int64_t day, store_usage_fn *cb, void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_USAGE_DAY);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, day);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(arg, (const char *)sqlite3_column_text(st, 0),
		       sqlite3_column_int64(st, 1)) != 0) {
			done(st);
			return 0;
		}
	if (rc != SQLITE_DONE) {
		set_err(s, "usage");
		done(st);
		return -1;
	}
	done(st);
	return 0;
}

static int
sq_usage_purge(struct store *s, int64_t before_day)
{
	sqlite3_stmt *st = stmt(s, ST_USAGE_PURGE);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before_day);
	if (run(s, st, "usage purge") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db);
}

static int
sq_domain_get(struct store *s, const char *id, struct domain *out)
{
	sqlite3_stmt *st = stmt(s, ST_DOMAIN_GET_ID);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return get_one(s, st, "domain get", read_domain, out);
}

static int
sq_domain_delete(struct store *s, const char *id)
{
	sqlite3_stmt *st = stmt(s, ST_DOMAIN_DELETE);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)clock_now());
	rc = admin_write(s, st, "domain delete", 1);
	/* no live row changed: admin_write said "not found" */
	if (rc == -1 && strcmp(s->err, "domain delete: not found") == 0)
		return STORE_NOT_FOUND;
	return rc;
}

static void
read_msg_summary(sqlite3_stmt *st, void *out)
{
	struct msg_summary *m = out;
	int i;

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(st, 0);
	m->message_id = col_dup(st, 1);
	m->created = sqlite3_column_int64(st, 2);
	m->mail_from = col_dup(st, 3);
	m->subject = col_dup(st, 4);
	m->size = sqlite3_column_int64(st, 5);
	m->total = sqlite3_column_int64(st, 6);
	for (i = 0; i < MSG_SUMMARY_STATES; i++)
		m->counts[i] = sqlite3_column_int64(st, 7 + i);
}

static void
clear_msg_summary(void *p)
{
	struct msg_summary *m = p;

	free(m->message_id);
	free(m->mail_from);
	free(m->subject);
}

static int
sq_message_list(struct store *s, const char *account_id, int64_t before_id,
                int limit, const char *q, struct msg_summary **out, size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_MSG_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int(st, 3, limit);
	bind_opt(st, 4, q);
	rc = get_list(s, st, "message list", sizeof(**out), read_msg_summary,
	              clear_msg_summary, &v, n);
	*out = v;
	return rc;
}

/* -- webhooks (SPEC §6.5) ------------------------------------------------ */

static int
sq_webhook_create(struct store *s, const struct webhook *w)
{
	sqlite3_stmt *st = stmt(s, ST_HOOK_INSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, w->secret, -1, SQLITE_STATIC);
	bind_opt(st, 5, w->events);
	sqlite3_bind_int64(st, 6, or_now(w->created));
	return run(s, st, "webhook insert");
}

static void
read_webhook(sqlite3_stmt *st, void *out)
{
	struct webhook *w = out;

	memset(w, 0, sizeof(*w));
	col_id(st, 0, w->id);
	col_id(st, 1, w->account_id);
	w->url = col_dup(st, 2);
	w->secret = col_dup(st, 3);
	w->events = col_dup(st, 4);
	w->created = sqlite3_column_int64(st, 5);
	w->cursor = sqlite3_column_int64(st, 6);
	w->last_error = col_dup(st, 7);
	w->last_error_at = sqlite3_column_int64(st, 8);
	w->pending = sqlite3_column_int64(st, 9);
	w->given_up = sqlite3_column_int64(st, 10);
	w->unread = sqlite3_column_int64(st, 11);
}

static void
clear_webhook(void *p)
{
	webhook_clear(p);
}

static int
sq_webhook_list(struct store *s, const char *account_id, struct webhook **out,
                size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_HOOK_LIST);
	void *v;
	int rc;

	if (st == NULL)
		return -1;
	bind_opt(st, 1, account_id);
	rc = get_list(s, st, "webhook list", sizeof(**out), read_webhook,
	              clear_webhook, &v, n);
	*out = v;
	return rc;
}

static int
sq_webhook_delete(struct store *s, const char *id)
{
	sqlite3_stmt *st = stmt(s, ST_HOOK_DELETE);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (run(s, st, "webhook delete") != 0)
		return -1;
	return sqlite3_changes(SQ(s)->db) == 0 ? STORE_NOT_FOUND : 0;
}

static int
sq_webhook_pump(struct store *s, const struct webhook *w, int64_t now,
                int limit, int64_t *cursor)
{
	sqlite3_stmt *st = stmt(s, ST_HOOK_HI);
	int64_t hi = 0;
	int rc;

	*cursor = w->cursor;
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, w->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, w->cursor);
	sqlite3_bind_int(st, 3, limit);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		hi = sqlite3_column_int64(st, 0); /* NULL: 0, none */
	else if (rc != SQLITE_DONE) {
		set_err(s, "webhook page");
		done(st);
		return -1;
	}
	done(st);
	if (hi <= w->cursor)
		return 0;
	if ((st = stmt(s, ST_HOOK_PUMP)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, w->cursor);
	sqlite3_bind_int64(st, 4, hi);
	bind_opt(st, 5, w->events);
	sqlite3_bind_int64(st, 6, now);
	if (run(s, st, "webhook pump") != 0)
		return -1;
	if ((st = stmt(s, ST_HOOK_CURSOR)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, w->cursor);
	sqlite3_bind_int64(st, 3, hi);
	if (run(s, st, "webhook cursor") != 0)
		return -1;
	*cursor = hi;
	return 0;
}

static int
sq_webhook_due(struct store *s, const char *webhook_id, int64_t now, int limit,
               store_webhook_job_fn *cb, void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_HOOK_DUE);
	struct webhook_job j;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, webhook_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		j.event_rowid = sqlite3_column_int64(st, 0);
		j.msg_id = sqlite3_column_int64(st, 1);
		j.attempts = sqlite3_column_int(st, 2);
		j.queued = sqlite3_column_int64(st, 3);
		j.event_id = (const char *)sqlite3_column_text(st, 4);
		j.payload = (const char *)sqlite3_column_text(st, 5);
		if (cb(arg, &j) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		set_err(s, "webhook due");
		done(st);
		return -1;
	}
	done(st);
	return 0;
}

static int
sq_webhook_result(struct store *s, const char *webhook_id, int64_t event_rowid,
                  int ok, int attempts, int64_t next, int give_up,
                  const char *error, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ok ? ST_HOOK_DONE : ST_HOOK_RETRY);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, webhook_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, event_rowid);
	if (!ok) {
		sqlite3_bind_int(st, 3, attempts);
		sqlite3_bind_int64(st, 4, next);
		sqlite3_bind_int(st, 5, give_up ? 2 : 0);
		bind_opt(st, 6, error);
	}
	if (run(s, st, "webhook result") != 0)
		return -1;
	if (ok)
		return 0;
	if ((st = stmt(s, ST_HOOK_ERROR)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, webhook_id, -1, SQLITE_STATIC);
	bind_opt(st, 2, error);
	sqlite3_bind_int64(st, 3, now);
	return run(s, st, "webhook error") == 0 ? 0 : -1;
}

static int
sq_webhook_relax(struct store *s)
{
	char *e = NULL;

	if (sqlite3_exec(SQ(s)->db, "PRAGMA synchronous = NORMAL", NULL, NULL,
	                 &e) != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err), "synchronous: %s",
		         e ? e : "?");
		sqlite3_free(e);
		return -1;
	}
	return 0;
}

static int
sq_webhook_replay(struct store *s, const char *webhook_id, int64_t since,
                  int64_t until, const char *type, int64_t now, int64_t *count)
{
	sqlite3_stmt *st;
	struct webhook *v = NULL;
	size_t n = 0, i;
	int found = 0;

	*count = 0;
	/* few webhooks: the list says whether it exists */
	if (sq_webhook_list(s, NULL, &v, &n) != 0)
		return -1;
	for (i = 0; i < n; i++)
		found |= strcmp(v[i].id, webhook_id) == 0;
	webhook_list_free(v, n);
	if (!found)
		return STORE_NOT_FOUND;
	if ((st = stmt(s, ST_HOOK_REPLAY)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, webhook_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, until);
	bind_opt(st, 4, type);
	sqlite3_bind_int64(st, 5, now);
	if (run(s, st, "webhook replay") != 0)
		return -1;
	*count = sqlite3_changes(SQ(s)->db);
	return 0;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .account_create = sq_account_create,
    .account_update = sq_account_update,
    .zone_create = sq_zone_create,
    .domain_create = sq_domain_create,
    .domain_update = sq_domain_update,
    .token_create = sq_token_create,
    .token_revoke = sq_token_revoke,
    .account_get = sq_account_get,
    .zone_get = sq_zone_get,
    .domain_get_by_name = sq_domain_get_by_name,
    .account_list = sq_account_list,
    .zone_list = sq_zone_list,
    .domain_list = sq_domain_list,
    .token_list = sq_token_list,
    .generation = sq_generation,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .op_begin = sq_op_begin,
    .op_end = sq_op_end,
    .message_insert = sq_message_insert,
    .outcome_apply = sq_outcome_apply,
    .lease_claim = sq_lease_claim,
    .lease_renew = sq_lease_renew,
    .lease_release = sq_lease_release,
    .rcpt_of = sq_rcpt_of,
    .rcpt_find = sq_rcpt_find,
    .rcpt_bounce = sq_rcpt_bounce,
    .message_status = sq_message_status,
    .idem_get = sq_idem_get,
    .idem_purge = sq_idem_purge,
    .message_purge = sq_message_purge,
    .message_body_drop = sq_message_body_drop,
    .size = sq_size,
    .message_reader_open = sq_message_reader_open,
    .message_info = sq_message_info,
    .event_insert = sq_event_insert,
    .events_list = sq_events_list,
    .suppression_upsert = sq_suppression_upsert,
    .suppression_find = sq_suppression_find,
    .suppression_purge = sq_suppression_purge,
    .message_load = sq_message_load,
    .queue_list = sq_queue_list,
    .queue_message = sq_queue_message,
    .queue_retry = sq_queue_retry,
    .request_add = sq_request_add,
    .request_last = sq_request_last,
    .requests_after = sq_requests_after,
    .dest_put = sq_dest_put,
    .dest_del = sq_dest_del,
    .dest_list = sq_dest_list,
    .webhook_create = sq_webhook_create,
    .webhook_list = sq_webhook_list,
    .webhook_delete = sq_webhook_delete,
    .webhook_pump = sq_webhook_pump,
    .webhook_due = sq_webhook_due,
    .webhook_result = sq_webhook_result,
    .webhook_relax = sq_webhook_relax,
    .webhook_replay = sq_webhook_replay,
    .domain_get = sq_domain_get,
    .domain_delete = sq_domain_delete,
    .message_list = sq_message_list,
    .usage_put = sq_usage_put,
    .usage_day = sq_usage_day,
    .usage_purge = sq_usage_purge,
    .suppression_add = sq_suppression_add,
    .suppression_get = sq_suppression_get,
    .suppression_list = sq_suppression_list,
    .suppression_edit = sq_suppression_edit,
    .suppression_delete = sq_suppression_delete,
};
