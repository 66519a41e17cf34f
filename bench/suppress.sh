#!/usr/bin/env bash
# The send path with an empty store against a store holding 100,000
# suppression entries and 1,000,000 events (SPEC §8.1: each recipient of a
# send is looked up in the suppression list), alternated in one run.
# Not a test: it prints markdown rows for bench/RESULTS.md.
#
# Usage: bench/suppress.sh [seconds] [connections] [rounds]   (10 64 3)
# Env:   PIGEON_BIN (build/pigeon), RUN (rsa0: see bench/run.sh),
#        BENCH_PORT (default: a free port, not run.sh's 18587, which
#        another run.sh on the machine may hold).
#
# Two state_dirs are made once: `pigeon serve --dev` starts on an empty
# one (the dev account, example.com, a token) and stops; a copy of it is
# filled with sqlite3, pigeon stopped, in the schema of src/store/sqlite.c
# (migration 6): 100,000 suppressions of the dev account (half of the
# account scope, half of example.com's; reasons and expiries mixed, none
# expired) and 1,000,000 events (about 650-byte payloads). Then, rounds
# times, bench/run.sh runs once on a copy of each (BENCH_VAR), empty
# first, with the load of the machine (uptime) before each run. The sent
# recipients (bench/send.lua) are never on the list: the lookup misses,
# as it does for nearly every send.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
rounds=${3:-3}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
run=${RUN:-rsa0}
port=${BENCH_PORT:-$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The empty store: what run.sh's own first start makes.
cat >"$work/pigeon.conf" <<CONF
state_dir $work/empty
http_listen 127.0.0.1
http_port $port
log_level warn
smtps_listen ""
submission_listen ""
inbound_listen ""
CONF
"$bin" serve --dev -c "$work/pigeon.conf" 2>>"$work/pigeon.log" &
pid=$!
for _ in $(seq 100); do
	[ -s "$work/empty/dev.env" ] && break
	sleep 0.1
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
rm -f "$work/empty/pigeon.lock"
cp -a "$work/empty" "$work/full"

t0=$(date +%s)
sqlite3 "$work/full/pigeon.db" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
    WHERE i < 100000)
INSERT INTO suppressions (id, account_id, email, reason, scope_type,
    scope_value, note, created, expires_at, read_only)
SELECT lower(hex(randomblob(16))), (SELECT id FROM accounts LIMIT 1),
    printf('user%06d-%s@%s.example.net', i, lower(hex(randomblob(3))),
           CASE i % 7 WHEN 0 THEN 'mail' ELSE 'list' || (i % 50) END),
    CASE i % 4 WHEN 0 THEN 'manual' WHEN 1 THEN 'hard_bounce'
        WHEN 2 THEN 'soft_bounce' ELSE 'complaint' END,
    CASE i % 2 WHEN 0 THEN 'account' ELSE 'sending_domain' END,
    CASE i % 2 WHEN 0 THEN NULL ELSE 'example.com' END,
    CASE i % 10 WHEN 0 THEN 'imported' END,
    CAST(strftime('%s', 'now') AS INTEGER) * 1000 - i * 1000,
    CASE i % 3 WHEN 0 THEN NULL
        ELSE CAST(strftime('%s', 'now') AS INTEGER) * 1000
             + 86400000 * (1 + i % 30) END,
    0
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
    WHERE i < 1000000)
INSERT INTO events (event_id, account_id, msg_id, message_id, rcpt_id,
    recipient, type, created, payload)
SELECT lower(hex(randomblob(16))), (SELECT id FROM accounts LIMIT 1),
    i, printf('<%036d@example.com>', i), i,
    printf('rcpt%07d@example.net', i),
    'cf.email.sending.message.delivered',
    CAST(strftime('%s', 'now') AS INTEGER) * 1000 - (1000000 - i) * 10,
    printf('{"type":"cf.email.sending.message.delivered","source":{"type":'
        || '"email.sending","domain":"example.com"},"payload":{"eventId":'
        || '"%032x","messageId":"<%036d@example.com>","sender":'
        || '"orders@example.com","recipient":"rcpt%07d@example.net",'
        || '"subject":"Your order #1234 has shipped","terminal":true,'
        || '"delivery":{"status":"delivered","provider":"capture",'
        || '"deliveryTimeMs":12,"smtpStatusCode":250,'
        || '"smtpEnhancedStatusCode":"2.0.0","smtpResponse":"250 2.0.0 '
        || 'Ok: queued as %d"},"bounce":null},"metadata":{"accountId":'
        || '"%s","eventTimestamp":"2026-11-30T00:00:00.000Z"}}',
        i, i, i, i, (SELECT id FROM accounts LIMIT 1))
FROM n;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
echo "seeded in $(($(date +%s) - t0)) s: $(sqlite3 "$work/full/pigeon.db" \
    'select count(*) from suppressions') suppressions, $(sqlite3 \
    "$work/full/pigeon.db" 'select count(*) from events') events, store \
    $(du -sh "$work/full" | cut -f1)"
echo

echo "| store | round | sends/s | p50 ms | p99 ms | server CPU µs/send | others' cores | load before (uptime) |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
	for store in empty full; do
		load=$(uptime | sed 's/.*load average: //')
		BENCH_VAR=$work/$store BENCH_PORT=$port SKIP_SPEED=1 RUNS=$run \
		    PIGEON_BIN=$bin \
		    bench/run.sh "$secs" "$conns" >"$work/run.out" \
		    2>"$work/run.err" ||
		    { cat "$work/run.err" >&2; exit 1; }
		# | run | sends/s | p50 | p99 | max | 200s | not 200 | stored |
		# lost | extra | CPU | wrk cores | others' | steal |
		grep '^| pigeon' "$work/run.out" | awk -F'|' -v s="$store" \
		    -v r="$r" -v l="$load" '{ gsub(/ /, "", $3); printf \
		    "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s, r, $3, \
		    $4, $5, $12, $14, l }'
	done
done
