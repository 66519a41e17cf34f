#!/usr/bin/env bash
# End to end: REST send -> pigeon's durable queue -> mx delivery over SMTP
# -> Postfix's smtp-sink on 127.0.0.1, and in the same run the peer,
# Postfix + OpenDKIM (bench/peer.sh) relaying to the same smtp-sink.
#
# For each connection count:
#   sign    pigeon serve --dev (RSA-2048 + Ed25519), route * mx tls=none,
#           dns_servers -> tests/peers/dns_peer.py (bench.test MX 10
#           sink.bench.test, A 127.0.0.1), mx_port -> smtp-sink; wrk with
#           bench/e2e_send.lua for SECONDS, then wait until every stored
#           message is in the sink
#   nosign  the same with bench/nosign.patch (no private-key operations),
#           for the delivery CPU per recipient excluding signing
#   peer    bench/peer.sh MSGS CONNS with PEER_RELAY=the sink's port
# smtp-sink dumps each message to a file on /dev/shm (-d); the time it
# closes the file, at the end of the transaction, is the arrival
# (bench/e2e_watch.py, inotify), matched with wrk's time of the 200 by
# Message-ID (bench/e2e_delays.py).
#
# CPU: utime+stime from /proc/PID/stat (whole process) and
# /proc/PID/task/TID/stat per thread, from the start of the load until the
# last message is in the sink. pigeon's threads have no names: each TID is
# given its role by its thread function (engine_main, writer_main,
# worker_main, tenant_main) from one gdb backtrace taken before the load.
#
# Usage: bench/e2e.sh [seconds] [connections[,connections...]]  (20, 16,64)
# Env:   PIGEON_BIN (build/pigeon), NOSIGN_BIN (built here from a copy of
#        the tree with bench/nosign.patch when unset), E2E_RUNS ("sign
#        nosign peer"), E2E_PEER_MSGS (4000), E2E_TIMEOUT (1800 s, the
#        whole script), E2E_DRAIN (120 s to wait for the sink),
#        E2E_PERF=1: perf record the engine thread during each pigeon
#        load and print its top symbols and its syscalls (strace -c)
#        on stderr (a profile, not a
#        measurement: its rows are disturbed).
#        E2E_SINK: smtp-sink (the default); data: bench/sink.c, which
#        accepts like smtp-sink; chunking: bench/sink.c offering
#        CHUNKING too, so pigeon delivers with BDAT (RFC 3030), as it
#        does to a Postfix, which offers it by default.
#        E2E_STRACE=1: strace -c alone. With either, strace follows the
#        engine thread from the start of the load until the sink has
#        every message, and its counts are also given per message in
#        the sink ("syscalls/msg" in the notes): robust where µs are
#        not, on a shared machine.
# Needs root (the peer's Postfix), scripts/deps.sh bench.
set -euo pipefail
if [ -z "${E2E_INNER:-}" ]; then
	E2E_INNER=1 exec timeout -k 10 "${E2E_TIMEOUT:-1800}" "$0" "$@"
fi
cd "$(dirname "$0")/.."
TIMEFORMAT='%U %S'
secs=${1:-20}
conns_list=${2:-16,64}
runs=${E2E_RUNS:-sign nosign peer}
peer_msgs=${E2E_PEER_MSGS:-4000}
drain_max=${E2E_DRAIN:-120}
sink_kind=${E2E_SINK:-smtp-sink}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
hport=18541
sport=18540
hz=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { echo "e2e: needs root (bench/peer.sh)" >&2; exit 2; }
for t in smtp-sink wrk gdb sqlite3 curl; do
	command -v "$t" >/dev/null ||
	    { echo "e2e: $t missing: scripts/deps.sh bench" >&2; exit 2; }
done
for p in "$hport" "$sport"; do
	if ss -Hltn "sport = :$p" | grep -q .; then
		echo "e2e: port $p is in use" >&2
		exit 2
	fi
done

# pigeon's store on disk (its fsyncs must be real), the sink's dumps in RAM
tmp=$(mktemp -d /var/lib/pigeon-e2e.XXXXXX)
sink=$(mktemp -d /dev/shm/pigeon-e2e-sink.XXXXXX)
chown nobody "$sink"
pid=""
sink_pid=""
dns_pid=""
watch_pid=""
nosign_work=""
cleanup() {
	set +e
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null
	[ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null
	[ -z "$dns_pid" ] || kill "$dns_pid" 2>/dev/null
	[ -z "$watch_pid" ] || kill "$watch_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp" "$sink"
	[ -z "$nosign_work" ] || rm -rf "$nosign_work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ticks() { # pid [tid]: utime + stime
	awk '{ i = index($0, ") "); split(substr($0, i + 2), f, " ");
	       print f[12] + f[13] }' "/proc/$1${2:+/task/$2}/stat"
}

busy_ticks() { # whole machine: user nice system irq softirq
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

now() { date +%s.%N; }

sunk() { # messages in the sink's current directory
	find "$sink/live" -type f | wc -l
}

field() { # name file: the value of name=value on a line of words
	tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -1
}

# --- the nosign build (bench/whatif-nosign.sh's way), before any load
if [[ " $runs " == *" nosign "* ]] && [ -z "${NOSIGN_BIN:-}" ]; then
	nosign_work=$(mktemp -d)
	tar cf - --exclude='./build*' --exclude='./.git' --exclude='./var' \
	    meson.build meson_options.txt src tests fuzz bench |
	    tar xf - -C "$nosign_work"
	patch -s -d "$nosign_work" -p1 <bench/nosign.patch
	meson setup -Dbuildtype=debugoptimized "$nosign_work/build" \
	    "$nosign_work" >/dev/null
	ninja -C "$nosign_work/build" pigeon >/dev/null
	NOSIGN_BIN=$nosign_work/build/pigeon
fi

# --- DNS: bench.test's MX is the sink
/usr/bin/python3 tests/peers/dns_peer.py --port-file "$tmp/dns.port" \
    --log "$tmp/dns.log" --rr 'bench.test 300 MX 10 sink.bench.test' \
    --rr 'sink.bench.test 300 A 127.0.0.1' >/dev/null &
dns_pid=$!
for _ in $(seq 100); do [ -s "$tmp/dns.port" ] && break; sleep 0.1; done
dport=$(cat "$tmp/dns.port")

# --- smtp-sink: one file per message in $sink/live, each file's closing
# time logged by e2e_watch.py
mkdir "$sink/live"
chown nobody "$sink/live"
/usr/bin/python3 bench/e2e_watch.py "$sink/live" "$sink/closed" >"$tmp/watch.out" &
watch_pid=$!
for _ in $(seq 100); do grep -q ready "$tmp/watch.out" && break; sleep 0.1; done
case $sink_kind in
smtp-sink)
	sink_cmd=(smtp-sink -u nobody -d "$sink/live/%H%M%S." \
	    "127.0.0.1:$sport" 1024) ;;
data | chunking)
	cc -O2 -o "$tmp/sink" bench/sink.c
	sink_cmd=("$tmp/sink" -d "$sink/live" "$sport")
	[ "$sink_kind" = data ] || sink_cmd=("$tmp/sink" -c -d "$sink/live" "$sport") ;;
*)
	echo "e2e: E2E_SINK: smtp-sink, data or chunking" >&2
	exit 2 ;;
esac
"${sink_cmd[@]}" 2>>"$tmp/sink.log" &
sink_pid=$!
for _ in $(seq 100); do
	ss -Hltn "sport = :$sport" | grep -q . && break
	sleep 0.1
done

pigeon_run() { # label binary conns
	local label=$1 b=$2 conns=$3 env=() c0 c1 c2 b0 b2 t0 t1 t2
	local stored rc n=0 w roles tid role wrk_s sink0 sink2
	[ "$label" = nosign ] && env=(BENCH_NOSIGN=1)
	rm -rf "${tmp:?}/var"
	find "$sink/live" -type f -delete
	cat >"$tmp/pigeon.conf" <<CONF
state_dir $tmp/var
http_listen 127.0.0.1
http_port $hport
send_wait_ms 0
log_level warn
route * mx tls=none
dns_servers 127.0.0.1:$dport
mx_port $sport
helo_name pigeon.bench.test
smtps_listen ""
submission_listen ""
inbound_listen ""
CONF
	env "${env[@]}" "$b" serve --dev -c "$tmp/pigeon.conf" \
	    2>>"$tmp/pigeon-$label-$conns.log" &
	pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$hport/" && break
		sleep 0.1
	done
	set -a
	# shellcheck disable=SC1091
	. "$tmp/var/dev.env"
	set +a
	# one message first: the DNS answer cached, a connection to the sink
	curl -sf -o /dev/null "$CLOUDFLARE_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/email/sending/send" \
	    -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" \
	    -d '{"from":"orders@example.com","to":"warm@bench.test","subject":"w","text":"w"}' ||
	    { echo "e2e: warm-up send failed" >&2; exit 1; }
	for _ in $(seq 100); do [ "$(sunk)" -ge 1 ] && break; sleep 0.1; done
	[ "$(sunk)" -ge 1 ] || { echo "e2e: warm-up not delivered" >&2;
	    cat "$tmp/pigeon-$label-$conns.log" >&2; exit 1; }
	find "$sink/live" -type f -delete
	# thread roles from their thread functions
	gdb -p "$pid" -batch -ex 'thread apply all bt' 2>/dev/null |
	    awk '/^Thread .*LWP [0-9]+/ { match($0, /LWP [0-9]+/);
	            t = substr($0, RSTART + 4, RLENGTH - 4); r[t] = "main" }
	         / in (engine|writer|worker|tenant)_main / {
	            match($0, / in [a-z]+_main /);
	            r[t] = substr($0, RSTART + 4, RLENGTH - 10) }
	         END { for (t in r) print t, r[t] }' >"$tmp/roles"
	roles=$(awk '{ print $2 }' "$tmp/roles" | sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }')
	for tid in $(awk '{ print $1 }' "$tmp/roles"); do
		echo "$tid $(ticks "$pid" "$tid")"
	done >"$tmp/th0"
	c0=$(ticks "$pid")
	sink0=$(($(ticks "$sink_pid") + $(ticks "$watch_pid")))
	b0=$(busy_ticks)
	local perf_pid="" strace_pid=""
	if [ -n "${E2E_PERF:-}" ]; then
		perf record -q -F 499 -g -o "$tmp/perf.data" \
		    -t "$(awk '$2 == "engine" { print $1 }' "$tmp/roles")" \
		    2>/dev/null &
		perf_pid=$!
	fi
	if [ -n "${E2E_PERF:-}${E2E_STRACE:-}" ]; then
		strace -c -o "$tmp/strace.c" \
		    -p "$(awk '$2 == "engine" { print $1 }' "$tmp/roles")" \
		    2>/dev/null &
		strace_pid=$!
		sleep 0.5 # attached
	fi
	t0=$(now)
	{ time BENCH_ACKS=$tmp/acks wrk -t2 -c"$conns" -d"${secs}s" \
	    --latency -s bench/e2e_send.lua "http://127.0.0.1:$hport" \
	    >"$tmp/wrk.out" 2>&1; } 2>"$tmp/wrk.time"
	t1=$(now)
	c1=$(ticks "$pid")
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" 2>/dev/null || true
		echo "perf, engine thread, $label $conns:" >&2
		perf report -i "$tmp/perf.data" --no-children --stdio \
		    --percent-limit 1.5 -g none 2>/dev/null | grep -v '^#' |
		    grep . | head -40 >&2
	fi
	stored=$(sqlite3 "$tmp/var/pigeon.db" \
	    "select count(*) from messages where subject = 'Your order #1234 has shipped'")
	while [ "$(sunk)" -lt "$stored" ] && [ "$n" -lt $((drain_max * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	t2=$(now)
	if [ -n "$strace_pid" ]; then
		kill -INT "$strace_pid"
		wait "$strace_pid" 2>/dev/null || true
		strace_pid=$(sunk)
		echo "strace -c, engine thread, $label $conns, from the load's start until $strace_pid messages were in the sink:" >&2
		head -25 "$tmp/strace.c" >&2
		echo "pigeon $label $conns: syscalls/msg $(awk -v n="$strace_pid" '
		    $NF == "total" { t = $4 }
		    NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" {
			s = s sprintf(" %s=%.2f", $NF, $4 / n) }
		    END { printf "%.2f (%d messages):%s", t / n, n, s }' \
		    "$tmp/strace.c")" >>"$tmp/notes"
	fi
	c2=$(ticks "$pid")
	sink2=$(($(ticks "$sink_pid") + $(ticks "$watch_pid")))
	b2=$(busy_ticks)
	for tid in $(awk '{ print $1 }' "$tmp/roles"); do
		echo "$tid $(ticks "$pid" "$tid")"
	done >"$tmp/th2"
	sleep 1 # the last outcomes committed
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	cat "$tmp/wrk.out" >&2
	# every recipient of the load: its state's last reply
	sqlite3 -separator ": " "$tmp/var/pigeon.db" "select substr(coalesce(r.last_reply, 'none'), 1, 3), count(*)
	    from recipients r join messages m on m.id = r.message_id
	    where m.subject = 'Your order #1234 has shipped' group by 1" |
	    tr '\n' ' ' >"$tmp/states"
	sleep 0.2 # the watcher's last lines
	mkdir "$sink/$label-$conns"
	find "$sink/live" -type f -exec mv -t "$sink/$label-$conns" {} +
	/usr/bin/python3 bench/e2e_delays.py pigeon "$tmp/acks" \
	    "$sink/$label-$conns" "$sink/closed" >"$tmp/delays"
	# per-thread CPU by role, µs per delivered message
	n=$(field n "$tmp/delays")
	w=$(awk 'NR == FNR { a[$1] = $2; next } { print $1, $2 - a[$1] }' \
	    "$tmp/th0" "$tmp/th2" |
	    awk 'NR == FNR { r[$1] = $2; next } { c[r[$1]] += $2 }
	         END { for (k in c) print k, c[k] }' "$tmp/roles" -)
	wrk_s=$(awk '{ print $1 + $2 }' "$tmp/wrk.time")
	awk -v label="$label" -v conns="$conns" -v hz="$hz" -v n="$n" \
	    -v secs="$secs" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
	    -v c0="$c0" -v c1="$c1" -v c2="$c2" -v b0="$b0" -v b2="$b2" \
	    -v sk=$((sink2 - sink0)) -v wrk_s="$wrk_s" -v w="$w" \
	    -v rps="$(field rps "$tmp/wrk.out")" -v n200="$(field status200 "$tmp/wrk.out")" \
	    -v bad=$(($(field non200 "$tmp/wrk.out") + $(field socket_errors "$tmp/wrk.out"))) \
	    -v last="$(field last_arrival "$tmp/delays")" \
	    -v p50="$(field p50_ms "$tmp/delays")" -v p99="$(field p99_ms "$tmp/delays")" \
	    -v mx="$(field max_ms "$tmp/delays")" -v miss="$(field missing "$tmp/delays")" \
	    -v stored="$stored" -v states="$(cat "$tmp/states")" 'BEGIN {
		split(w, a, " "); for (i = 1; i in a; i += 2) th[a[i]] = a[i + 1]
		us = 1e6 / hz / (n ? n : 1)
		e2e = n / (last - t0)
		other = (b2 - b0 - (c2 - c0) - sk) / hz - wrk_s
		if (other < 0) other = 0
		printf "| pigeon %s, %s conns | %.0f | %.0f | %.1f | %.1f | %.1f | %d / %d / %d | %d | %s| %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n",
		    label, conns, n200 / (t1 - t0), e2e, p50, p99, mx, n200, stored, n,
		    miss + bad, states, (c2 - c0) * us, th["engine"] * us,
		    th["writer"] * us, th["worker"] * us, sk / hz / (t2 - t0),
		    other / (t2 - t0)
	}' >>"$tmp/rows"
	echo "pigeon $label $conns: threads $roles; drained $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }') s after wrk; wrk $(field rps "$tmp/wrk.out") req/s p50 $(field p50_ms "$tmp/wrk.out") ms p99 $(field p99_ms "$tmp/wrk.out") ms; $(cat "$tmp/delays")" >>"$tmp/notes"
}

peer_run() { # conns
	local conns=$1 out=$tmp/peer-$1.out sk0 sk2
	find "$sink/live" -type f -delete
	sk0=$(($(ticks "$sink_pid") + $(ticks "$watch_pid")))
	PEER_RELAY=$sport PEER_LOG_OUT=$tmp/peer-$conns.log PEER_INNER=1 \
	    bench/peer.sh "$peer_msgs" "$conns" >"$out" ||
	    { cat "$out" >&2; echo "e2e: peer run failed" >&2; exit 1; }
	sk2=$(($(ticks "$sink_pid") + $(ticks "$watch_pid")))
	cat "$out" >&2
	/usr/bin/python3 bench/e2e_delays.py postfix "$tmp/peer-$conns.log" \
	    "$sport" >"$tmp/delays"
	# peer.sh's rows: the first table's (rate, 250s, lost, CPU) and the
	# second's (accepting s, draining after s)
	awk -F' *\\| *' -v conns="$conns" -v hz="$hz" -v sk=$((sk2 - sk0)) \
	    -v p50="$(field p50_ms "$tmp/delays")" -v p99="$(field p99_ms "$tmp/delays")" \
	    -v mx="$(field max_ms "$tmp/delays")" '
	    /^\| peer: / { rate = $3; ok = $7; bad = $8; del = $9; lost = $10; cpu = $12; oth = $14 }
	    /^\| [0-9]+ \| [0-9]+ \| [0-9]+ \|/ { acc = $7; drn = $8 }
	    END {
		printf "| Postfix + OpenDKIM, %s sessions | %s | %.0f | %s | %s | %s | %s / %s / %s | %s | lost %s | %s | - | - | - | %.2f | %s |\n",
		    conns, rate, ok / (acc + drn), p50 "~", p99 "~", mx "~", ok, ok, del, bad, lost, cpu,
		    sk / hz / (acc + drn), oth
	    }' "$out" >>"$tmp/rows"
	grep -E '^(date|machine|software|command|listeners)' "$out" | sed 's/^/peer /' >>"$tmp/notes"
	grep -E '^Postfix CPU' "$out" >>"$tmp/notes"
	find "$sink/live" -type f -delete
}

start=$(date -u '+%Y-%m-%d %H:%M UTC')
for conns in ${conns_list//,/ }; do
	for r in $runs; do
		case $r in
		sign) pigeon_run sign "$bin" "$conns" ;;
		nosign) pigeon_run nosign "$NOSIGN_BIN" "$conns" ;;
		peer) peer_run "$conns" ;;
		*) echo "e2e: unknown run '$r'" >&2; exit 2 ;;
		esac
	done
done

echo "date: $start"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "software: pigeon $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo '+local changes'), $(dpkg-query -W -f='postfix ${Version}' postfix 2>/dev/null), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "command: bench/e2e.sh $secs $conns_list  (E2E_RUNS=\"$runs\" E2E_PEER_MSGS=$peer_msgs)"
echo "sink: ${sink_cmd[*]}; bench/e2e_watch.py $sink/live $sink/closed"
echo "pigeon load: BENCH_ACKS=acks wrk -t2 -c<conns> -d${secs}s --latency -s bench/e2e_send.lua http://127.0.0.1:$hport"
echo "peer load: PEER_RELAY=$sport PEER_LOG_OUT=log bench/peer.sh $peer_msgs <conns>"
echo
echo "| run | accepted/s | end to end /s | 200→sink p50 ms | p99 ms | max ms | 200s / stored / in sink | not 200 or missing | last replies | CPU µs/msg | engine µs/rcpt | writer µs/msg | HTTP µs/msg | sink cores | others' cores |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
cat "$tmp/rows"
echo
cat "$tmp/notes"
