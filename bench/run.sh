#!/usr/bin/env bash
# Measures durable sends/s and latency of `pigeon serve --dev` (capture
# route) with wrk, and in the same run the ceiling: a minimal
# libmicrohttpd server answering the same request with a fixed body.
# Usage: bench/run.sh [seconds] [connections]   (defaults 10, 64)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
ceiling=$PWD/build/ceiling
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

wait_http() {
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
		curl -s -o /dev/null -X POST "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "bench: server on port $1 did not start" >&2
	exit 1
}

run_wrk() { # port label
	wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/send.lua \
	    "http://127.0.0.1:$1" | tee "$tmp/wrk.out" >&2
	printf '| %s | %s |\n' "$2" \
	    "$(sed -n 's/^RESULT //p' "$tmp/wrk.out")"
}

pigeon_run() { # send_wait_ms label
	rm -rf "$tmp/var"
	cat >"$tmp/pigeon.conf" <<CONF
state_dir $tmp/var
http_port 18587
send_wait_ms $1
log_level warn
CONF
	(cd "$tmp" && exec "$bin" serve --dev -c "$tmp/pigeon.conf") \
	    2>"$tmp/pigeon.log" &
	pid=$!
	wait_http 18587
	set -a
	# shellcheck disable=SC1091
	. "$tmp/var/dev.env"
	set +a
	run_wrk 18587 "$2"
	local sent
	sent=$(sqlite3 "$tmp/var/pigeon.db" 'select count(*) from messages' 2>/dev/null || echo '?')
	printf '|   stored messages after the run | %s |\n' "$sent"
	kill "$pid"
	wait "$pid" || true
	pid=""
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "command: bench/run.sh $secs $conns  (wrk -t2 -c$conns -d${secs}s)"
echo
echo "| server | result |"
echo "|---|---|"
pigeon_run 0 "pigeon send, send_wait_ms 0"
pigeon_run 5000 "pigeon send, send_wait_ms 5000 (default)"
"$ceiling" 18599 2>/dev/null &
pid=$!
wait_http 18599
run_wrk 18599 "ceiling: minimal libmicrohttpd, fixed reply"
