#!/bin/sh
# Installs the Debian packages pigeon needs to build, run and test, when
# any is missing. Safe to run again: it does nothing when all are present.
set -eu

BUILD="meson ninja-build pkg-config gcc libevent-dev
libssl-dev libc-ares-dev libjson-c-dev libsqlite3-dev libidn2-dev
libcurl4-openssl-dev openssl"
# postfix: the receiving MTA of the delivery tests (tests/peers/postfix.py)
# and, with opendkim, the peer that bench/peer.sh measures; each run only as
# a private instance on 127.0.0.1, the system-wide daemons kept from
# starting (below). python3-prometheus-client: the parser that
# tests/integration/test_metrics.py reads /metrics with.
TEST="libcmocka-dev python3 python3-pytest python3-aiosmtpd python3-dkim
python3-nacl python3-dnslib python3-prometheus-client swaks libnet-ssleay-perl libio-socket-ssl-perl
libauthen-sasl-perl msmtp clang libclang-rt-14-dev nodejs npm curl
postfix"
# libmicrohttpd-dev: bench/ceiling.c, the front pigeon had before its own.
BENCH="wrk sqlite3 curl openssl linux-perf libmicrohttpd-dev postfix opendkim
opendkim-tools"

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
case " $missing " in
*" postfix "* | *" opendkim "*)
	# No system-wide mail server: Postfix without a main.cf, and no
	# daemon started while installing (policy-rc.d denies it).
	echo 'postfix postfix/main_mailer_type select No configuration' |
	    $SUDO debconf-set-selections
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	;;
esac
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# Should a package have started its daemon anyway, stop it and keep it
# from starting at boot.
for d in postfix opendkim; do
	case " $missing " in *" $d "*) ;; *) continue ;; esac
	if [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now "$d" >/dev/null 2>&1 || true
	fi
done
case " $missing " in
*" postfix "*)
	if [ -f /etc/postfix/main.cf ] && $SUDO postfix status >/dev/null 2>&1; then
		$SUDO postfix stop || true
	fi
	;;
esac
case " $missing " in
*" opendkim "*)
	if [ -f /run/opendkim/opendkim.pid ]; then
		$SUDO kill "$(cat /run/opendkim/opendkim.pid)" 2>/dev/null || true
	fi
	;;
esac
