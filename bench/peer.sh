#!/usr/bin/env bash
# The peer yardstick: what a user would otherwise install to DKIM-sign and
# queue mail durably, Postfix + OpenDKIM, measured the way bench/run.sh
# measures pigeon. A private Postfix instance (its own config, queue and
# data directories in a temporary directory) listens on 127.0.0.1 only;
# OpenDKIM signs as a milter on a unix socket with an RSA-2048 key made
# for the run, relaxed/relaxed. smtp-source sends a fixed number of
# messages like bench/send.lua's (one recipient, the same ~0.9 KB text)
# over 64 SMTP sessions that stay connected (-d, as wrk's keep-alive).
# Postfix answers 250 to DATA only after cleanup has fsynced the queue
# file (its default), as pigeon answers 200 after its commit. Delivery is
# Postfix's discard transport, the counterpart of pigeon's capture route:
# each message is taken from the queue, reported delivered and removed,
# nothing is sent anywhere.
#
# Checks: every accepted message was signed (each DKIM-Signature that
# OpenDKIM adds is logged by milter_header_checks: one per message), every
# message accepted was delivered and the queue is empty at the end; a few
# more messages go to smtp-sink so that a signature can be read (and
# verified, when python3-dkim is installed).
#
# Usage: bench/peer.sh [messages] [sessions]   (30000, 64)
# Env:   PEER_PORT (18525), PEER_SINK_PORT (18526), PEER_TMPDIR (/var/lib;
#        on disk, not tmpfs: the fsyncs must be real), PEER_TIMEOUT (900 s,
#        the whole script). Prints markdown rows for bench/RESULTS.md.
#        PEER_TLS=starttls|tls: smtpd offers STARTTLS, or speaks TLS
#        from the first byte (wrapper mode, as on port 465), with a
#        self-signed RSA-2048 certificate made for the run, and the load
#        comes from build/smtpload (-m PEER_TLS, PEER_PER_SESSION
#        messages per session, default 50; SMTPLOAD_BIN) instead of
#        smtp-source, which speaks no TLS (bench/smtp.sh).
#        PEER_RELAY=PORT: deliver over SMTP to a sink on 127.0.0.1:PORT
#        instead of discarding (bench/e2e.sh), with delays logged to the
#        µs (delay_logging_resolution_limit = 6); PEER_LOG_OUT=FILE: copy
#        the log lines written after the warm-up there.
# Needs root (Postfix's master); the packages: scripts/deps.sh bench.
set -euo pipefail
if [ -z "${PEER_INNER:-}" ]; then
	PEER_INNER=1 exec timeout -k 10 "${PEER_TIMEOUT:-900}" "$0" "$@"
fi
cd "$(dirname "$0")/.."
TIMEFORMAT='%U %S' # bash's time: smtp-source's user and system CPU seconds
count=${1:-30000}
sessions=${2:-64}
port=${PEER_PORT:-18525}
sport=${PEER_SINK_PORT:-18526}
relay=${PEER_RELAY:-}
tls=${PEER_TLS:-}
per_session=${PEER_PER_SESSION:-50}
smtpload=${SMTPLOAD_BIN:-$PWD/build/smtpload}
domain=example.com
selector=bench
hz=$(getconf CLK_TCK)

if [ "$(id -u)" != 0 ]; then
	echo "peer: needs root (Postfix's master runs as root)" >&2
	exit 2
fi
for t in postfix smtp-source smtp-sink opendkim opendkim-genkey; do
	command -v "$t" >/dev/null ||
	    { echo "peer: $t missing: scripts/deps.sh bench" >&2; exit 2; }
done
for p in "$port" "$sport"; do
	if ss -Hltn "sport = :$p" | grep -q .; then
		echo "peer: port $p is in use" >&2
		exit 2
	fi
done

# not under /tmp: OpenDKIM refuses files below a world-writable directory
tmp=$(mktemp -d "${PEER_TMPDIR:-/var/lib}/pigeon-peer.XXXXXX")
chmod 755 "$tmp" # postfix's processes reach the milter socket in it
conf=$tmp/etc
q=$tmp/queue
dkim_pid=""
sink_pid=""
started=""
cleanup() {
	local rc=$? m
	set +e
	if [ "$rc" -ne 0 ] && [ -f "$tmp/maillog" ]; then
		echo "peer: the end of Postfix's log:" >&2
		{ grep -E "warning|fatal|error" "$tmp/maillog" | grep -v dkim-signed | head -10; tail -5 "$tmp/maillog"; } >&2
	fi
	if [ -n "$started" ]; then
		m=$(master_pid)
		postfix -c "$conf" stop >/dev/null 2>&1 || true
		for _ in $(seq 50); do
			[ -n "$m" ] && [ -d "/proc/$m" ] || break
			sleep 0.1
		done
	fi
	[ -z "$dkim_pid" ] || kill "$dkim_pid" 2>/dev/null || true
	[ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

master_pid() {
	[ -f "$q/pid/master.pid" ] && tr -d ' ' <"$q/pid/master.pid" || true
}

# "pid comm ticks" for Postfix's master and each of its children, ticks =
# utime + stime + cutime + cstime: the master's cutime/cstime hold the CPU
# of the children it has reaped (cleanup, smtpd… exit after max_use).
postfix_procs() { # master_pid
	local f
	for f in /proc/[0-9]*/stat; do
		cat "$f" 2>/dev/null || true
	done | awk -v m="$1" '{
		# comm may hold spaces: fields are counted after the last ")"
		i = index($0, ") "); rest = substr($0, i + 2)
		comm = substr($0, index($0, "(") + 1, i - index($0, "(") - 1)
		n = split(rest, f, " ")
		pid = $1; ppid = f[2]
		if (pid == m || ppid == m)
			print pid, comm, f[12] + f[13] + f[14] + f[15]
	}'
}

cpu_ticks() { # pid: utime + stime, all threads
	awk '{ i = index($0, ") "); split(substr($0, i + 2), f, " ");
	       print f[12] + f[13] }' "/proc/$1/stat"
}

busy_ticks() { # whole machine: user nice system irq softirq, and steal
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat
}

logcount() { # extended regexp: matching lines in Postfix's log
	grep -cE "$1" "$tmp/maillog" 2>/dev/null || true
}

queued() { # files in the queue that hold mail
	find "$q/maildrop" "$q/incoming" "$q/active" "$q/deferred" "$q/hold" \
	    -type f 2>/dev/null | wc -l
}

wait_drained() { # total accepted: wait for them all delivered, 120 s at most
	for _ in $(seq 1200); do
		if [ "$(queued)" -eq 0 ] &&
		    [ "$(logcount ': removed$')" -ge "$1" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# --- OpenDKIM: a key of its own, signing example.com, on a unix socket.
mkdir -p "$tmp/dkim" "$conf" "$tmp/sink" "$tmp/milter"
chown postfix:postfix "$tmp/milter" # OpenDKIM makes its socket as postfix
opendkim-genkey -b 2048 -D "$tmp/dkim" -d "$domain" -s "$selector"
chown postfix:postfix "$tmp/dkim/$selector.private"
chmod 600 "$tmp/dkim/$selector.private"
cat >"$tmp/opendkim.conf" <<CONF
Syslog			no
Mode			s
Domain			$domain
Selector		$selector
KeyFile			$tmp/dkim/$selector.private
Canonicalization	relaxed/relaxed
SignatureAlgorithm	rsa-sha256
OversignHeaders		From
InternalHosts		127.0.0.1
Socket			local:$tmp/milter/opendkim.sock
UserID			postfix:postfix
UMask			007
CONF
opendkim -f -x "$tmp/opendkim.conf" 2>>"$tmp/opendkim.log" &
dkim_pid=$!

# --- smtp-sink for the sample that is read back (not the load).
smtp-sink -u postfix -d "$tmp/sink/%H%M%S." "127.0.0.1:$sport" 64 \
    2>>"$tmp/sink.log" &
sink_pid=$!
chown postfix "$tmp/sink"

# --- the private Postfix instance.
if [ -n "$relay" ]; then
	transport="smtp:[127.0.0.1]:$relay"
	delivered_re="postfix/smtp\\[[0-9]+\\]: .* relay=[^ ]*:$relay, .*status=sent"
	delivery="relay to 127.0.0.1:$relay"
else
	transport=discard
	delivered_re='postfix/discard\[[0-9]+\]: .* status=sent'
	delivery=discard
fi
cat >"$conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $q
data_directory = $tmp/data
mail_owner = postfix
setgid_group = postdrop
myhostname = peer.bench.invalid
mydomain = bench.invalid
myorigin = \$myhostname
mydestination =
relay_domains =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
biff = no
maillog_file = $tmp/maillog
maillog_file_prefixes = $tmp
smtp_dns_support_level = disabled
# delivery: everything is discarded (the capture route's counterpart),
# but for the sample that is read back from smtp-sink
default_transport = $transport
relay_transport = $transport
transport_maps = inline:{sample.example.net=smtp:[127.0.0.1]:$sport}
# signing: OpenDKIM as a milter; one log line per signature it adds
smtpd_milters = unix:$tmp/milter/opendkim.sock
milter_default_action = tempfail
milter_header_checks = regexp:$conf/milter_header_checks
CONF
[ -z "$relay" ] || echo "delay_logging_resolution_limit = 6" >>"$conf/main.cf"
wrapper=""
if [ -n "$tls" ]; then
	[ -x "$smtpload" ] || { echo "peer: $smtpload missing: ninja -C build" >&2; exit 2; }
	mkdir -p "$tmp/tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	    -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" 2>/dev/null
	cat >>"$conf/main.cf" <<CONF
smtpd_tls_security_level = may
smtpd_tls_cert_file = $tmp/tls/cert.pem
smtpd_tls_key_file = $tmp/tls/key.pem
smtpd_tls_received_header = yes
CONF
	[ "$tls" = tls ] && wrapper=" -o smtpd_tls_wrappermode=yes"
fi
printf '%s\n' '/^DKIM-Signature:/ WARN dkim-signed' >"$conf/milter_header_checks"
# Postfix's services as the tests' peer has them (none chrooted); the only
# network listener is smtpd on 127.0.0.1.
{
	echo "127.0.0.1:$port inet n - n - - smtpd$wrapper"
	cat tests/peers/postfix-master.cf
} >"$conf/master.cf"
mkdir -p "$q"
started=1
postfix -c "$conf" start >"$tmp/start.log" 2>&1 ||
    { cat "$tmp/start.log" "$tmp/maillog" >&2 2>/dev/null; exit 1; }
for _ in $(seq 100); do
	[ -S "$tmp/milter/opendkim.sock" ] &&
	    ss -Hltn "sport = :$port" | grep -q . && [ -n "$(master_pid)" ] && break
	sleep 0.1
done
ss -Hltn "sport = :$port" | grep -q 127.0.0.1 ||
    { echo "peer: Postfix did not start" >&2; cat "$tmp/maillog" >&2; exit 1; }
[ -S "$tmp/milter/opendkim.sock" ] ||
    { echo "peer: OpenDKIM did not start" >&2; cat "$tmp/opendkim.log" >&2; exit 1; }
mpid=$(master_pid)
listeners=$(ss -Hltnup | grep -cE "pid=($mpid|$dkim_pid)," || true)

# --- the message: bench/send.lua's (sender, recipient, subject, X-Order,
# the same text); Postfix adds Date and Message-ID as pigeon does.
text=$(printf 'Your order has shipped and is on its way. %.0s' $(seq 18))
cat >"$tmp/msg" <<MSG
From: Shop <orders@$domain>
To: customer@example.net
Subject: Your order #1234 has shipped
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit
X-Order: 1234

$text
MSG
src() { # seconds messages sessions recipient
	if [ -n "$tls" ]; then
		timeout "$1" "$smtpload" -p "$port" -m "$tls" -c "$3" -n "$2" \
		    -r "$per_session" -T "$1" -f "orders@$domain" -t "$4"
		return
	fi
	timeout "$1" smtp-source -d -s "$3" -m "$2" -f "orders@$domain" -t "$4" \
	    -F "$tmp/msg" "inet:127.0.0.1:$port"
}

# Warm-up: every session's smtpd and the milter connections started.
src 60 "$sessions" "$sessions" customer@example.net >/dev/null
wait_drained "$sessions" || { echo "peer: warm-up not delivered" >&2; exit 1; }

log0=$(wc -l <"$tmp/maillog")
postfix_procs "$mpid" >"$tmp/procs0"
k0=$(cpu_ticks "$dkim_pid")
read -r b0 s0 < <(busy_ticks)
t0=$(date +%s.%N)
{ time src 600 "$count" "$sessions" customer@example.net \
    >"$tmp/source.out" 2>&1; } 2>"$tmp/source.time" ||
    { echo "peer: smtp-source failed" >&2; cat "$tmp/source.out" >&2; exit 1; }
t1=$(date +%s.%N)
total=$((sessions + count))
wait_drained "$total" || echo "peer: queue not drained after 120 s" >&2
t2=$(date +%s.%N)
postfix_procs "$mpid" >"$tmp/procs1"
k1=$(cpu_ticks "$dkim_pid")
read -r b1 s1 < <(busy_ticks)
[ -z "${PEER_LOG_OUT:-}" ] || tail -n +$((log0 + 1)) "$tmp/maillog" >"$PEER_LOG_OUT"

# The sample: 3 messages through smtp-sink, read back.
src 60 3 1 reader@sample.example.net >/dev/null
wait_drained $((total + 3)) || echo "peer: sample not delivered" >&2
sleep 0.5
sample=$(find "$tmp/sink" -type f | head -1)

accepted=$(logcount 'postfix/cleanup\[[0-9]+\]: [0-9A-F]+: message-id=')
signed=$(logcount 'warning: header DKIM-Signature: .* dkim-signed')
delivered=$(logcount "$delivered_re")
left=$(queued)
rejected=$(logcount 'postfix/smtpd\[[0-9]+\]: (NOQUEUE: )?[0-9A-F]*:? ?(reject|milter-reject)')
# the warm-up's and the load's (the sample's 3 are checked below)
accepted=$((accepted - 3))
signed=$((signed - 3))
lost=$((accepted - delivered - left))
[ -n "$sample" ] && sample_ok=$(grep -c "^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=$domain;" "$sample" || true)
verify="not checked (python3-dkim not installed)"
if [ -n "$sample" ] && /usr/bin/python3 -c 'import dkim' 2>/dev/null; then
	# smtp-sink's dump: its X- attributes and Received: header (neither
	# signed), then the message as received; LF line ends
	verify=$(/usr/bin/python3 - "$sample" "$tmp/dkim/$selector.txt" <<'PY'
import re, sys, dkim
raw = open(sys.argv[1], "rb").read()
msg = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
txt = "".join(re.findall(r'"([^"]*)"', open(sys.argv[2]).read()))
def dns(name, timeout=5):
    return txt.encode()
print("verified" if dkim.verify(msg, dnsfunc=dns) else "FAILED")
PY
	) || verify="FAILED"
fi

# CPU: Postfix = the sum over master + children (reaped ones through the
# master's cutime/cstime) after minus before; OpenDKIM its own process.
pf=$(awk 'NR == FNR { b[$1] = $3; next } { s += $3 - b[$1] }
	END { print s + 0 }' "$tmp/procs0" "$tmp/procs1")
kd=$((k1 - k0))
by_proc=$(awk -v m="$mpid" 'NR == FNR { b[$1] = $3; next }
	{ c[$1 == m ? "exited(reaped)" : $2] += $3 - b[$1] }
	END { for (k in c) if (c[k] > 0) printf "%s %d\n", k, c[k] }' \
    "$tmp/procs0" "$tmp/procs1" | sort -k2,2nr)
us() { # ticks per message, in µs
	awk -v t="$1" -v n="$count" -v hz="$hz" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }'
}
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
drain=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
rate=$(awk -v n="$count" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
src_s=$(awk '{ print $1 + $2 }' "$tmp/source.time")
load=$(awk -v b=$((b1 - b0)) -v st=$((s1 - s0)) -v srv=$((pf + kd)) -v w="$src_s" \
    -v hz="$hz" -v s="$(awk -v a="$t0" -v b="$t2" 'BEGIN { print b - a }')" 'BEGIN {
	o = (b - srv) / hz - w; if (o < 0) o = 0
	printf "%.2f | %.2f | %.2f", w / s, o / s, st / hz / s }')

pf_v=$(postconf -c "$conf" -h mail_version)
dk_v=$(opendkim -V 2>&1 | sed -n 's/.*OpenDKIM Filter v\([^ ]*\).*/\1/p' | head -1)
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "software: Postfix $pf_v, OpenDKIM $dk_v ($(dpkg-query -W -f='${Version}' opendkim 2>/dev/null)), $(openssl version | cut -d' ' -f1-2)"
if [ -n "$tls" ]; then
	echo "command: PEER_TLS=$tls PEER_PER_SESSION=$per_session bench/peer.sh $count $sessions  (smtpload -m $tls -c $sessions -n $count -r $per_session, 127.0.0.1:$port)"
	echo "smtpload: $(tail -1 "$tmp/source.out")"
else
	echo "command: bench/peer.sh $count $sessions  (smtp-source -d -s $sessions -m $count -F msg, $(wc -c <"$tmp/msg") bytes, inet:127.0.0.1:$port)"
fi
echo "listeners of the instance: $listeners, all on 127.0.0.1 ($(ss -Hltn "sport = :$port" | awk '{ print $4 }' | xargs))"
echo
echo "| run | msgs/s | p50 ms | p99 ms | max ms | 250s | not 250 | delivered | lost | left in queue | peer CPU µs/msg | source cores | others' cores | steal cores |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '| peer: Postfix %s + OpenDKIM %s (RSA-2048, relaxed/relaxed), %s, %s sessions | %s | - | - | - | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$pf_v" "$dk_v" "$delivery" "$sessions" "$rate" "$((accepted - sessions))" "$rejected" \
    "$delivered" "$lost" "$left" "$(us $((pf + kd)))" "$load"
echo
echo "| peer CPU µs/msg | OpenDKIM | Postfix (all processes) | signed | sample signature | accepting s | draining after s |"
echo "|---|---|---|---|---|---|---|"
printf '| %s | %s | %s | %s of %s | %s, %s | %s | %s |\n' \
    "$(us $((pf + kd)))" "$(us "$kd")" "$(us "$pf")" "$signed" "$accepted" \
    "$([ "${sample_ok:-0}" -ge 1 ] && echo "d=$domain s=$selector c=relaxed/relaxed" || echo MISSING)" \
    "$verify" "$wall" "$drain"
echo
printf 'Postfix CPU µs/msg by process name (exited: processes that ended, reaped by the master): '
echo "$by_proc" | awk -v n="$count" -v hz="$hz" '{ printf "%s%s %.0f", sep, $1, $2 / hz * 1e6 / n; sep = ", " } END { print "" }'
if [ "$signed" -ne "$accepted" ] || [ "$lost" -ne 0 ] || [ "$accepted" -ne "$total" ] ||
    [ "${sample_ok:-0}" -lt 1 ] || [ "$verify" = FAILED ]; then
	echo "peer: FAIL: a message was not signed, not accepted or lost" >&2
	exit 1
fi
