#!/usr/bin/env bash
# The whole test run behind `make test`: unit (cmocka), the test peers'
# self-tests, integration (pytest against a real pigeon), the official
# Cloudflare SDK, and the fuzz corpora replayed — unit and integration once
# on the normal build and once on the ASan+UBSan build. Ends with the line
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
top=$PWD
out=$top/build/test-results
rm -rf "$out"
mkdir -p "$out"

passed=0
failed=0
failures=()

count() { # suite-name passed failed
	passed=$((passed + $2))
	failed=$((failed + $3))
	[ "$3" = 0 ] || failures+=("$1: $3 failed")
	printf '== %s: %d passed, %d failed\n' "$1" "$2" "$3"
}

unit() { # builddir label
	local p=0 f=0 t log n
	for t in "$1"/tests/unit/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		log=$out/$(basename "$t").$2.log
		(cd tests/unit && "$t") >"$log" 2>&1
		local rc=$?
		n=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		p=$((p + ${n:-0}))
		n=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		if [ -n "$n" ]; then
			f=$((f + n))
		elif [ $rc != 0 ]; then
			f=$((f + 1)) # crashed before its summary
		fi
		if [ $rc != 0 ]; then
			echo "-- $(basename "$t") ($2) failed:"
			tail -n 30 "$log"
		fi
	done
	count "unit ($2)" $p $f
}

pytest_suite() { # name log-stem pytest-args...
	local xml=$out/$2.xml p f
	/usr/bin/python3 -m pytest "${@:3}" \
	    -q -p no:cacheprovider --junitxml="$xml" 2>&1 |
	    tee "$out/$2.log" | tail -n 40
	read -r p f < <(/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
s = r if r.tag == "testsuite" else r.find("testsuite")
t, fl, e, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(t - fl - e - sk, fl + e if t else 1)
PY
)
	count "$1" "$p" "$f"
}

integration() { # builddir label
	PIGEON_BIN=$1/pigeon pytest_suite "integration ($2)" "integration.$2" \
	    tests/integration
}

sdk() {
	local log=$out/sdk.log p f
	PIGEON_BIN=$top/build/pigeon bash tests/sdk/run.sh >"$log" 2>&1
	local rc=$?
	tail -n 25 "$log"
	p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$log" | tail -1)
	[ -n "$p" ] || p=0
	[ -n "$f" ] || f=0
	[ $rc = 0 ] || [ "$f" != 0 ] || f=1
	count "sdk" "$p" "$f"
}

fuzz_replay() {
	local p=0 f=0 r name
	for r in build-asan/fuzz/replay_*; do
		[ -f "$r" ] && [ -x "$r" ] || continue
		name=${r##*/replay_}
		if "$r" "fuzz/corpus/$name" >"$out/fuzz.$name.log" 2>&1; then
			p=$((p + 1))
		else
			f=$((f + 1))
			tail -n 20 "$out/fuzz.$name.log"
		fi
	done
	count "fuzz replay" $p $f
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

unit "$top/build" release
unit "$top/build-asan" asan
fuzz_replay
# the test peers' self-tests (no pigeon in them: once)
pytest_suite peers peers tests/peers
integration "$top/build" release
integration "$top/build-asan" asan
sdk

echo
for l in "${failures[@]}"; do echo "failed: $l"; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
