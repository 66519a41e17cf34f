#!/bin/sh
# Installs the Debian packages pigeon needs to build, run and test, when
# any is missing. Safe to run again: it does nothing when all are present.
set -eu

BUILD="meson ninja-build pkg-config gcc libmicrohttpd-dev libevent-dev
libssl-dev libc-ares-dev libjson-c-dev libsqlite3-dev libidn2-dev
libcurl4-openssl-dev openssl"
TEST="libcmocka-dev python3 python3-pytest python3-aiosmtpd python3-dkim
python3-nacl python3-dnslib swaks clang libclang-rt-14-dev nodejs npm curl"
BENCH="wrk sqlite3 curl openssl linux-perf"

case "${1:-test}" in
build) want="$BUILD" ;;
test) want="$BUILD $TEST" ;;
bench) want="$BUILD $BENCH" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		# nodejs/npm may come from elsewhere than Debian; a working
		# binary on PATH is enough.
		case "$p" in
		nodejs) command -v node >/dev/null 2>&1 && continue ;;
		npm) command -v npm >/dev/null 2>&1 && continue ;;
		esac
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "pigeon: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
