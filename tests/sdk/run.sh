#!/bin/sh
# Runs the official Cloudflare SDK tests (node --test) against a fresh
# pigeon: binary from PIGEON_BIN (default <repo>/build/pigeon), a temporary
# state dir, a free port on 127.0.0.1.  Exits with node's exit code.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${PIGEON_BIN:-$repo/build/pigeon}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
[ -x "$bin" ] || { echo "run.sh: no pigeon binary at $bin" >&2; exit 1; }
command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pigeon-sdk.XXXXXX")
pid=
stop_server() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	pid=
}
cleanup() {
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/pigeon.conf" <<CONF
state_dir $tmp/var
http_listen 127.0.0.1
http_port $port
send_wait_ms 2000
retry_base_ms 200
retry_max_ms 1000
auth_cache_ms 100
smtps_listen ""
submission_listen ""
inbound_listen ""
CONF

(cd "$tmp" && exec "$bin" serve --dev -c "$tmp/pigeon.conf") \
	>"$tmp/stdout.log" 2>"$tmp/stderr.log" &
pid=$!

i=0
until /usr/bin/python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=1)
PY
do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 200 ]; then
		echo "run.sh: pigeon did not come up:" >&2
		cat "$tmp/stderr.log" >&2
		exit 1
	fi
	sleep 0.1; i=$((i + 1))
done

set -a
. "$tmp/var/dev.env"
set +a
ro=$(cd "$tmp" && "$bin" token create "$CLOUDFLARE_ACCOUNT_ID" --perm read \
	--json --dev -c "$tmp/pigeon.conf" | /usr/bin/python3 -c \
	'import json, sys; print(json.load(sys.stdin)["token"])') &&
	export PIGEON_READ_TOKEN="$ro"
zone=$(cd "$tmp" && "$bin" zone list "$CLOUDFLARE_ACCOUNT_ID" --json --dev \
	-c "$tmp/pigeon.conf" | /usr/bin/python3 -c \
	'import json, sys; print(json.load(sys.stdin)[0]["id"])') &&
	export PIGEON_ZONE_ID="$zone"
sleep 0.3 # the new token reaches the server's auth cache (auth_cache_ms)
# for tests that need an account of their own (pigeon account create …)
export PIGEON_BIN="$bin" PIGEON_CONF="$tmp/pigeon.conf"

cd "$here" || exit 1
if [ ! -d node_modules/cloudflare ]; then
	npm ci --no-audit --no-fund || exit 1
fi
node --test
rc=$?
stop_server
if grep -q -e "ERROR: AddressSanitizer" -e "runtime error:" \
	"$tmp/stderr.log"; then
	echo "run.sh: sanitizer report from pigeon:" >&2
	cat "$tmp/stderr.log" >&2
	[ $rc -eq 0 ] && rc=1
fi
exit $rc
