#!/usr/bin/env bash
# What a webhook costs the send path (SPEC §6.5): bench/run.sh's send load
# (wrk, bench/send.lua, the dev domain, send_wait_ms 0, a fresh store each
# run) with no webhook, then with one webhook whose receiver answers each
# POST after 2 s (8 POSTs in flight: the backlog grows for the whole
# run), alternated ROUNDS times (none first, then hook first, ...).
# Prints markdown for bench/RESULTS.md: sends/s and pigeon's CPU per send.
#
# Usage: bench/webhook.sh [seconds] [connections] [rounds]  (10, 64, 3)
# Env:   PIGEON_BIN (build/pigeon)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
rounds=${3:-3}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
# free ports (bench/run.sh's 18587 may be in use by another run)
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
rport=$(free_port)
tmp=$(mktemp -d)
pid=""
rpid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	if [ -n "$rpid" ]; then kill "$rpid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# The slow receiver: 200 after 2 s, many at once.
cat >"$tmp/recv.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(2)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
s.serve_forever()
PY
python3 "$tmp/recv.py" "$rport" &
rpid=$!

wait_http() { # port
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "bench: server on port $1 did not start" >&2
	exit 1
}

run() { # none|hook → sends/s on stdout
	rm -rf "${tmp:?}/var"
	cat >"$tmp/pigeon.conf" <<CONF
state_dir $tmp/var
http_listen 127.0.0.1
http_port $port
send_wait_ms 0
log_level warn
smtps_listen ""
submission_listen ""
inbound_listen ""
CONF
	"$bin" serve --dev -c "$tmp/pigeon.conf" 2>>"$tmp/pigeon.log" &
	pid=$!
	wait_http "$port"
	set -a
	# shellcheck disable=SC1091
	. "$tmp/var/dev.env"
	set +a
	if [ "$1" = hook ]; then
		"$bin" webhook add "$CLOUDFLARE_ACCOUNT_ID" \
		    "http://127.0.0.1:$rport/hook" -c "$tmp/pigeon.conf" \
		    >/dev/null
		sleep 1.2 # the dispatcher reads the webhooks every second
	fi
	curl -sf -o /dev/null "$CLOUDFLARE_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/email/sending/send" \
	    -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
	    -d '{"from":"orders@example.com","to":"warm@example.net","subject":"w","text":"w"}' ||
	    { echo "bench: warm-up send failed" >&2; exit 1; }
	c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	wrk -t2 -c"$conns" -d"${secs}s" -s bench/send.lua \
	    "http://127.0.0.1:$port" >"$tmp/wrk.out" 2>&1
	c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	if [ "$1" = hook ]; then
		sqlite3 "$tmp/var/pigeon.db" \
		    "select count(*) from webhook_outbox" >"$tmp/pending"
	fi
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	# "sends/s µs-of-pigeon-CPU-per-send"
	awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v s="$secs" '
	    /^Requests\/sec:/ { printf "%d %d\n", $2, t / hz * 1e6 / ($2 * s) }' \
	    "$tmp/wrk.out"
}

none=()
hook=()
none_cpu=()
hook_cpu=()
pend=()
# each round in the other order: a load that drifts favours neither
for i in $(seq "$rounds"); do
	if [ $((i % 2)) = 1 ]; then order="none hook"; else order="hook none"; fi
	for kind in $order; do
		read -r r c < <(run "$kind")
		if [ "$kind" = none ]; then
			none+=("$r")
			none_cpu+=("$c")
		else
			hook+=("$r")
			hook_cpu+=("$c")
			pend+=("$(cat "$tmp/pending")")
		fi
	done
done
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%d", s / NR }'; }
join() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
echo "command: bench/webhook.sh $secs $conns $rounds  (wrk -t2 -c$conns -d${secs}s -s bench/send.lua; send_wait_ms 0)"
echo "pigeon $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs"
echo
echo "| run | sends/s | mean | pigeon CPU µs per send | mean |"
echo "|---|---|---|---|---|"
echo "| no webhook | $(join "${none[@]}") | $(mean "${none[@]}") | $(join "${none_cpu[@]}") | $(mean "${none_cpu[@]}") |"
echo "| one webhook, receiver answering in 2 s | $(join "${hook[@]}") | $(mean "${hook[@]}") | $(join "${hook_cpu[@]}") | $(mean "${hook_cpu[@]}") |"
echo
echo "outbox rows still pending at the end of each webhook run: $(join "${pend[@]}")"
