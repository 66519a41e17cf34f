#!/usr/bin/env bash
# SMTP submission with TLS (issue 8's benchmark): messages/s accepted
# durably by `pigeon serve --dev` (capture route) from build/smtpload,
#   starttls  STARTTLS on submission_listen, AUTH PLAIN api_token, 50
#             messages per session (connection reuse)
#   tls       implicit TLS on smtps_listen, AUTH, one message per session
#             (a full handshake each)
# and in the same run the peer a user would otherwise install: Postfix's
# smtpd with the same TLS modes and OpenDKIM (RSA-2048, unix socket), fed
# by the same generator (bench/peer.sh PEER_TLS=…; no AUTH there: Postfix
# has no SASL of its own). pigeon signs with the RSA-2048-only domain
# example.org for a like-for-like signature (bench/run.sh's "rsa"). Then
# the memory of 1,000 idle TLS sessions: pigeon's RSS before and while
# smtpload -I 1000 holds them.
#
# Usage: bench/smtp.sh [messages] [connections]   (20000, 16)
# Env:   PIGEON_BIN (build/pigeon), SMTPLOAD_BIN (build/smtpload),
#        SMTP_RUNS ("starttls tls peer-starttls peer-tls idle").
# Needs root (the peer's Postfix); scripts/deps.sh bench.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20000}
conns=${2:-16}
runs=${SMTP_RUNS:-starttls tls peer-starttls peer-tls idle}
bin=${PIGEON_BIN:-$PWD/build/pigeon}
load=${SMTPLOAD_BIN:-$PWD/build/smtpload}
hport=18621
sport=18622 # smtps_listen
mport=18623 # submission_listen
hz=$(getconf CLK_TCK)
tmp=$(mktemp -d /var/lib/pigeon-smtp.XXXXXX) # on disk: real fsyncs
pid=""
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$load" ] || { echo "smtp: $load missing: ninja -C build" >&2; exit 2; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

start_pigeon() {
	rm -rf "$tmp/var"
	cat >"$tmp/pigeon.conf" <<CONF
state_dir $tmp/var
http_listen 127.0.0.1
http_port $hport
smtps_listen 127.0.0.1:$sport
submission_listen 127.0.0.1:$mport
inbound_listen ""
smtpd_max_sessions 2000
smtpd_max_sessions_per_ip 2000
send_wait_ms 0
log_level warn
CONF
	"$bin" serve --dev -c "$tmp/pigeon.conf" 2>>"$tmp/pigeon.log" &
	pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$hport/healthz" && break
		sleep 0.1
	done
	set -a
	# shellcheck disable=SC1091
	. "$tmp/var/dev.env"
	set +a
	# the RSA-only domain, and a token of the account for it
	"$bin" zone create "$CLOUDFLARE_ACCOUNT_ID" example.org \
	    -c "$tmp/pigeon.conf" >/dev/null
	zone=$(sqlite3 "$tmp/var/pigeon.db" \
	    "select id from zones where name = 'example.org'")
	"$bin" domain create "$zone" example.org -c "$tmp/pigeon.conf" >/dev/null
	sleep 1.2 # auth_cache_ms: the server sees the new domain
}

pigeon_run() { # starttls|tls
	local port=$mport per=50 c0 c1 b0 b1 out stored
	[ "$1" = tls ] && { port=$sport; per=1; }
	start_pigeon
	"$load" -p "$port" -m "$1" -c 1 -n 1 -r 1 -a "api_token:$CLOUDFLARE_API_TOKEN" \
	    -f orders@example.org >/dev/null # warm
	c0=$(cpu_ticks "$pid")
	b0=$(busy_ticks)
	out=$("$load" -p "$port" -m "$1" -c "$conns" -n "$count" -r "$per" -T 600 \
	    -a "api_token:$CLOUDFLARE_API_TOKEN" -f orders@example.org)
	c1=$(cpu_ticks "$pid")
	b1=$(busy_ticks)
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	stored=$(sqlite3 "$tmp/var/pigeon.db" "select count(*) from messages" )
	echo "pigeon $1: $out" >&2
	awk -v o="$out" -v t=$((c1 - c0)) -v b=$((b1 - b0)) -v hz="$hz" \
	    -v mode="$1" -v per="$per" -v c="$conns" -v st="$stored" 'BEGIN {
		n = split(o, f, " "); for (i = 1; i < n; i += 2) v[f[i]] = f[i + 1]
		printf "| pigeon, %s, %d msgs/session, %d conns | %s | %s | %s | %s | %s / %s | %.0f | %.2f |\n",
		    mode, per, c, v["per_s"], v["p50_ms"], v["p99_ms"], v["max_ms"],
		    v["accepted"], st - 1, t / hz * 1e6 / v["accepted"],
		    v["client_cpu_s"] / v["seconds"] }'
}

peer_run() { # starttls|tls
	local per=50 out
	[ "$1" = tls ] && per=1
	out=$(PEER_TLS=$1 PEER_PER_SESSION=$per bench/peer.sh "$count" "$conns" 2>"$tmp/peer.err") ||
	    { cat "$tmp/peer.err" >&2; echo "| peer $1: failed |"; return; }
	echo "$out" >&2
	echo "$out" | grep '^| peer:' | head -1
}

idle_run() {
	local r0 r1
	start_pigeon
	sleep 1
	r0=$(rss_kib "$pid")
	"$load" -p "$sport" -m tls -I 1000 -H 8 >"$tmp/idle.out" &
	for _ in $(seq 300); do
		grep -q '^idle' "$tmp/idle.out" 2>/dev/null && break
		sleep 0.1
	done
	sleep 1
	r1=$(rss_kib "$pid")
	wait %% 2>/dev/null || true
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	printf '1,000 idle TLS sessions (%s): RSS %.1f MiB before, %.1f MiB with them: %.1f MiB more, %.1f KiB each\n' \
	    "$(cat "$tmp/idle.out")" "$(echo "$r0 / 1024" | bc -l)" \
	    "$(echo "$r1 / 1024" | bc -l)" "$(echo "($r1 - $r0) / 1024" | bc -l)" \
	    "$(echo "($r1 - $r0) / 1000" | bc -l)"
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "software: pigeon $(git rev-parse --short HEAD), $(postconf -d -h mail_version 2>/dev/null | sed 's/^/postfix /'), $(openssl version | cut -d' ' -f1-2)"
echo "command: bench/smtp.sh $count $conns"
echo
echo "| run | msgs/s | p50 ms | p99 ms | max ms | 250s / stored | server CPU µs/msg | client cores |"
echo "|---|---|---|---|---|---|---|---|"
for r in $runs; do
	case $r in
	starttls | tls) pigeon_run "$r" ;;
	peer-starttls) peer_run starttls ;;
	peer-tls) peer_run tls ;;
	idle) idle_line=$(idle_run) ;;
	esac
done
echo
[ -z "${idle_line:-}" ] || echo "$idle_line"
