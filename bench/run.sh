#!/usr/bin/env bash
# Measures durable sends/s and latency of `pigeon serve --dev` (capture
# route) with wrk, and in the same run what bounds it: openssl's own
# RSA-2048 and Ed25519 signing rate on this machine, and the ceilings,
# minimal servers answering the same request with a fixed body: on
# libmicrohttpd (bench/ceiling.c) and on pigeon's own HTTP server
# (bench/ceiling_httpd.c). Prints markdown for bench/RESULTS.md.
#
# Usage: bench/run.sh [seconds] [connections[,connections…]]  (10, 64)
#        e.g. bench/run.sh 10 1,4,16,64 for latency against load
# Env:   PIGEON_BIN (build/pigeon), CEILING_BIN (build/ceiling),
#        SKIP_SPEED=1 to leave out `openssl speed`,
#        CEILING_HTTPD_BIN (build/ceiling_httpd),
#        RUNS="dev0 dev5000 rsa0 rsa5000 ceiling ceiling_httpd" (the
#        default: all) to
#        choose the runs, for each connection count,
#        BENCH_VAR=DIR to start each pigeon on a copy of the state_dir
#        DIR (a store made by `pigeon serve --dev` on BENCH_PORT, then
#        filled: bench/suppress.sh) instead of a fresh one,
#        BENCH_PORT (18587; the ceilings take BENCH_PORT + 12) when
#        another run holds the port.
#        BENCH_LIMITS="--rate N --burst N --daily-quota N": `account set`
#        on the dev account before each pigeon run (SPEC §8.4; unset:
#        unlimited, the limiter is never called).
#
# pigeon runs (each on a fresh store, send_wait_ms 0 and 5000):
#   dev   the dev domain example.com: RSA-2048 + Ed25519 signatures
#   rsa   example.org, created with the admin CLI without --ed25519
# After each run pigeon is killed with SIGKILL the moment wrk stops, and
# every message_id wrk saw in a 200 is looked up in the store: "lost"
# must be 0. "extra" counts messages stored whose reply wrk never read
# (requests in flight when wrk stopped); it is at most the connections.
# Exit status 1 when a run lost an acknowledged message or got anything
# but 200s.
set -euo pipefail
cd "$(dirname "$0")/.."
TIMEFORMAT='%U %S' # bash's time: wrk's user and system CPU seconds
secs=${1:-10}
conns_list=${2:-64}
runs=${RUNS:-dev0 dev5000 rsa0 rsa5000 ceiling ceiling_httpd}
conns=0
threads=0
bin=${PIGEON_BIN:-$PWD/build/pigeon}
ceiling=${CEILING_BIN:-$PWD/build/ceiling}
ceiling_httpd=${CEILING_HTTPD_BIN:-$PWD/build/ceiling_httpd}
port=${BENCH_PORT:-18587}
cport=$((port + 12))
tmp=$(mktemp -d)
pid=""
bad=0
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

wait_http() { # port
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "bench: server on port $1 did not start" >&2
	exit 1
}

cpu_ticks() { # pid: utime + stime of the whole process, in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

busy_ticks() { # whole machine: user nice system irq softirq, and steal
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat
}

# "wrk cores, other cores, steal cores" over the run: what wrk used, what
# processes other than pigeon and wrk used (the machine is shared), and
# what the hypervisor took. Args: busy0 steal0 busy1 steal1 server_ticks.
load_cols() {
	local wrk_s
	wrk_s=$(awk '{ print $1 + $2 }' "$tmp/wrk.time")
	awk -v b=$(($3 - $1)) -v st=$(($4 - $2)) -v srv="$5" -v w="$wrk_s" \
	    -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN {
		o = (b - srv) / hz - w; if (o < 0) o = 0
		printf "%.2f | %.2f | %.2f", w / s, o / s, st / hz / s }'
}

field() { # name file: the value of name=value on the RESULT line
	grep '^RESULT ' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

start_pigeon() { # send_wait_ms
	rm -rf "${tmp:?}/var"
	if [ -n "${BENCH_VAR:-}" ]; then
		cp -a "$BENCH_VAR" "$tmp/var"
		# the copy's dirty pages written out now, not by the first
		# checkpoint's fsync inside the run
		sync
	fi
	cat >"$tmp/pigeon.conf" <<CONF
state_dir $tmp/var
http_listen 127.0.0.1
http_port $port
send_wait_ms $1
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
}

# An RSA-only sending domain in the dev account, and a token for it.
add_rsa_domain() {
	local zone
	"$bin" zone create "$CLOUDFLARE_ACCOUNT_ID" example.org \
	    -c "$tmp/pigeon.conf" >/dev/null
	zone=$(sqlite3 "$tmp/var/pigeon.db" \
	    "select id from zones where name = 'example.org'")
	"$bin" domain create "$zone" example.org -c "$tmp/pigeon.conf" \
	    >/dev/null
	CLOUDFLARE_API_TOKEN=$("$bin" token create "$CLOUDFLARE_ACCOUNT_ID" \
	    --name bench --perm send -c "$tmp/pigeon.conf" --json |
	    sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	sleep 1.2 # auth_cache_ms: the server sees the new domain
}

pigeon_run() { # send_wait_ms domain(dev|rsa)
	local subject="Your order #1234 has shipped"
	local from=orders@example.com c0 c1 b0 b1 s0 s1 stored lost extra
	local n200 cpu
	start_pigeon "$1"
	if [ -n "${BENCH_LIMITS:-}" ]; then
		# shellcheck disable=SC2086
		"$bin" account set "$CLOUDFLARE_ACCOUNT_ID" $BENCH_LIMITS \
		    -c "$tmp/pigeon.conf" >/dev/null
		sleep 1.2 # auth_cache_ms: the server sees the limits
	fi
	if [ "$2" = rsa ]; then
		add_rsa_domain
		from=orders@example.org
	fi
	# One send first, so that the run starts warm and the domain works.
	curl -sf -o /dev/null "$CLOUDFLARE_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/email/sending/send" \
	    -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
	    -d "{\"from\":\"$from\",\"to\":\"warm@example.net\",\"subject\":\"w\",\"text\":\"w\"}" ||
	    { echo "bench: warm-up send failed" >&2; exit 1; }
	c0=$(cpu_ticks "$pid")
	read -r b0 s0 < <(busy_ticks)
	{ time BENCH_FROM=$from BENCH_IDS=$tmp/acked \
	    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s bench/send.lua \
	    "http://127.0.0.1:$port" >"$tmp/wrk.out" 2>&1; } 2>"$tmp/wrk.time"
	c1=$(cpu_ticks "$pid")
	read -r b1 s1 < <(busy_ticks)
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	cat "$tmp/wrk.out" >&2
	sqlite3 "$tmp/var/pigeon.db" \
	    "select message_id from messages where subject = '$subject'" | sort >"$tmp/stored"
	sort -o "$tmp/acked" "$tmp/acked"
	stored=$(wc -l <"$tmp/stored")
	lost=$(comm -23 "$tmp/acked" "$tmp/stored" | wc -l)
	extra=$(comm -13 "$tmp/acked" "$tmp/stored" | wc -l)
	n200=$(field status200 "$tmp/wrk.out")
	cpu=$(awk -v t=$((c1 - c0)) -v n="$n200" -v hz="$(getconf CLK_TCK)" \
	    'BEGIN { printf "%.0f", n ? t / hz * 1e6 / n : 0 }')
	printf '| pigeon, %s, send_wait_ms %s, %s conns | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	    "$2" "$1" "$conns" "$(field rps "$tmp/wrk.out")" \
	    "$(field p50_ms "$tmp/wrk.out")" "$(field p99_ms "$tmp/wrk.out")" \
	    "$(field max_ms "$tmp/wrk.out")" "$n200" \
	    "$(( $(field non200 "$tmp/wrk.out") + $(field socket_errors "$tmp/wrk.out") ))" \
	    "$stored" "$lost" "$extra" "$cpu" \
	    "$(load_cols "$b0" "$s0" "$b1" "$s1" $((c1 - c0)))"
	if [ "$lost" -ne 0 ] || [ "$(field non200 "$tmp/wrk.out")" -ne 0 ]; then
		bad=1
	fi
}

ceiling_run() { # binary label
	local c0 c1 b0 b1 s0 s1 n cpu
	if [ ! -x "$1" ]; then
		echo "| $2: not built (scripts/deps.sh bench, then meson setup --reconfigure build) |"
		return
	fi
	"$1" "$cport" 2>/dev/null &
	pid=$!
	wait_http "$cport"
	c0=$(cpu_ticks "$pid")
	read -r b0 s0 < <(busy_ticks)
	{ time wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s bench/send.lua \
	    "http://127.0.0.1:$cport" >"$tmp/wrk.out" 2>&1; } 2>"$tmp/wrk.time"
	read -r b1 s1 < <(busy_ticks)
	c1=$(cpu_ticks "$pid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	cat "$tmp/wrk.out" >&2
	n=$(field requests "$tmp/wrk.out")
	cpu=$(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
	    'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
	printf '| %s, fixed reply, %s conns | %.0f | %s | %s | %s | %s | %s | - | - | - | %s | %s |\n' \
	    "$2" "$conns" "$(field rps "$tmp/wrk.out")" \
	    "$(field p50_ms "$tmp/wrk.out")" \
	    "$(field p99_ms "$tmp/wrk.out")" "$(field max_ms "$tmp/wrk.out")" \
	    "$n" "$(( $(field status_ge400 "$tmp/wrk.out") + $(field socket_errors "$tmp/wrk.out") ))" \
	    "$cpu" "$(load_cols "$b0" "$s0" "$b1" "$s1" $((c1 - c0)))"
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "software: $(openssl version | cut -d' ' -f1-2), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), pigeon $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo '+local changes')"
echo "command: bench/run.sh $secs $conns_list  (wrk -t2 -c<conns> -d${secs}s --latency -s bench/send.lua; -t1 for 1 connection)"
[ -z "${RUNS:-}" ] || echo "runs: $runs"
echo
if [ -z "${SKIP_SPEED:-}" ]; then
	echo '```'
	echo "\$ openssl speed -seconds 3 rsa2048 ed25519     # one process"
	openssl speed -seconds 3 rsa2048 ed25519 2>/dev/null |
	    grep -E '^ *(sign|rsa|253)' || true
	echo "\$ openssl speed -seconds 3 -multi 2 rsa2048 ed25519  # sum of 2"
	openssl speed -seconds 3 -multi 2 rsa2048 ed25519 2>/dev/null |
	    grep -E '^ *(sign|rsa|253)' || true
	echo '```'
	echo
fi
echo "| run | sends/s | p50 ms | p99 ms | max ms | 200s | not 200 | stored | lost | extra | server CPU µs/send | wrk cores | others' cores | steal cores |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for conns in ${conns_list//,/ }; do
	threads=$((conns < 2 ? 1 : 2))
	for r in $runs; do
		case $r in
		dev0) pigeon_run 0 dev ;;
		dev5000) pigeon_run 5000 dev ;;
		rsa0) pigeon_run 0 rsa ;;
		rsa5000) pigeon_run 5000 rsa ;;
		ceiling) ceiling_run "$ceiling" "ceiling (bench/ceiling.c, libmicrohttpd)" ;;
		ceiling_httpd) ceiling_run "$ceiling_httpd" "ceiling (bench/ceiling_httpd.c, src/httpd)" ;;
		*) echo "bench: unknown run '$r' in RUNS" >&2; exit 2 ;;
		esac
	done
done
if [ "$bad" -ne 0 ]; then
	echo "bench: FAIL: an acknowledged message is missing or a send failed" >&2
	exit 1
fi
