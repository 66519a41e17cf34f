#!/usr/bin/env bash
# Profiles `pigeon serve --dev` (send_wait_ms 0) under the load of
# bench/send.lua with perf: on-CPU samples with DWARF call graphs, so
# that time inside libcrypto and libsqlite3 (no frame pointers) is still
# charged to the pigeon function that called it.
#
# Usage: bench/profile.sh [seconds] [domain]   (defaults 8, dev; or rsa)
# Leaves perf.data and the reports in $OUT (default /tmp/pigeon-profile).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
domain=${2:-dev}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
out=${OUT:-/tmp/pigeon-profile}
port=18587
mkdir -p "$out"
rm -rf "${out:?}/var" "$out/perf.data" "$out/perf.data.old"
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
}
trap cleanup EXIT

cat >"$out/pigeon.conf" <<CONF
state_dir $out/var
http_listen 127.0.0.1
http_port $port
send_wait_ms 0
log_level warn
smtps_listen ""
submission_listen ""
inbound_listen ""
CONF
"$bin" serve --dev -c "$out/pigeon.conf" 2>"$out/pigeon.log" &
pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/" && break
	sleep 0.1
done
set -a
# shellcheck disable=SC1091
. "$out/var/dev.env"
set +a
from=orders@example.com
if [ "$domain" = rsa ]; then
	"$bin" zone create "$CLOUDFLARE_ACCOUNT_ID" example.org \
	    -c "$out/pigeon.conf" >/dev/null
	zone=$(sqlite3 "$out/var/pigeon.db" \
	    "select id from zones where name = 'example.org'")
	"$bin" domain create "$zone" example.org -c "$out/pigeon.conf" \
	    >/dev/null
	sleep 1.2
	from=orders@example.org
fi

# wrk runs 2 s longer than perf on both sides: only steady state is seen.
BENCH_FROM=$from wrk -t2 -c64 -d$((secs + 4))s -s bench/send.lua \
    "http://127.0.0.1:$port" >"$out/wrk.out" &
wrk=$!
sleep 2
perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$out/perf.data" \
    -- sleep "$secs" 2>"$out/perf.err"
wait "$wrk"
grep RESULT "$out/wrk.out"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""

perf report -i "$out/perf.data" --no-children --sort dso --stdio -g none \
    2>/dev/null | grep '%' >"$out/by-dso.txt"
perf report -i "$out/perf.data" --children --sort sym --stdio -g none \
    2>/dev/null | grep '%' >"$out/by-sym-children.txt"
perf report -i "$out/perf.data" --no-children --sort sym --stdio -g none \
    2>/dev/null | grep '%' >"$out/by-sym-self.txt"
echo "reports in $out: by-dso.txt by-sym-children.txt by-sym-self.txt"
