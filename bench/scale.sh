#!/usr/bin/env bash
# The schedule's scale (issue 7 item 6): a store holding N deferred
# recipients (default 1,000,000; 10 per message, due over the next 24 h,
# or all due now with SCALE_DUE=now), then `pigeon serve --dev` on it:
# the seconds until /healthz answers and the server's RSS then and 5 s
# later (with SCALE_DUE=now the dev capture route delivers them
# meanwhile: also how many were delivered in those 5 s and the peak
# RSS). Bounded: one start, 127.0.0.1 only.
#
# Usage: bench/scale.sh [recipients]   Env: PIGEON_BIN (build/pigeon),
#        SCALE_DUE (day|now)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
due=${SCALE_DUE:-day}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
tmp=$(mktemp -d)
port=18611
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

printf 'http_port %d\nstate_dir %s/var\nsmtps_listen ""\nsubmission_listen ""\ninbound_listen ""\n' \
	"$port" "$tmp" >"$tmp/pigeon.conf"
wait_http() {
	for _ in $(seq 600); do
		curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
		sleep 0.05
	done
	echo "scale: pigeon did not answer" >&2
	exit 1
}
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# a dev store: bootstrapped once, then stopped
"$bin" serve --dev -c "$tmp/pigeon.conf" 2>"$tmp/boot.log" &
pid=$!
wait_http
kill "$pid"
wait "$pid" || true
pid=""

# N deferred recipients, 10 per message, due over the next day
db=$tmp/var/pigeon.db
now=$(($(date +%s) * 1000))
sqlite3 "$db" <<EOF
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE m(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM m
                        WHERE i < $n / 10)
INSERT INTO messages (account_id, domain_id, message_id, mail_from, subject,
                      raw, size, preview, created)
SELECT (SELECT id FROM accounts LIMIT 1), (SELECT id FROM domains LIMIT 1),
       '<scale' || i || '@example.com>', 'dev@example.com', 'scale',
       zeroblob(1000), 1000, 0, $now
FROM m;
WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r
                        WHERE i < $n - 1)
INSERT INTO recipients (message_id, address, state, attempts, next_attempt,
                        last_attempt, last_reply, updated)
SELECT (SELECT min(id) FROM messages) + i / 10,
       'r' || i || '@d' || (i % 1000) || '.example', 1, 1,
       CASE WHEN '$due' = 'now' THEN $now - 1000
            ELSE $now + 60000 + (i * 86400000 / $n) END,
       $now, '451 4.3.0 later', $now
FROM r;
COMMIT;
EOF
echo "store: $(du -m "$db" | cut -f1) MiB, $(sqlite3 "$db" \
    "select count(*) from recipients where state = 1") deferred recipients"

t0=$(date +%s.%N)
"$bin" serve --dev -c "$tmp/pigeon.conf" 2>"$tmp/serve.log" &
pid=$!
wait_http
t1=$(date +%s.%N)
r0=$(rss_mib "$pid")
sleep 5
r1=$(rss_mib "$pid")
hwm=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
left=$(sqlite3 "$db" "select count(*) from recipients where state in (0, 1)")
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores; pigeon $(git rev-parse --short HEAD)"
echo "command: bench/scale.sh $n"
printf 'start to /healthz: %.2f s; RSS then %s MiB, 5 s later %s MiB (peak %s MiB); %d of %d recipients delivered by then\n' \
    "$(echo "$t1 - $t0" | bc)" "$r0" "$r1" "$hwm" "$((n - left))" "$n"
grep -m3 -E "claimed|schedule" "$tmp/serve.log" || true
