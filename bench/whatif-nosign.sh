#!/usr/bin/env bash
# What-if: pigeon with the DKIM private-key operations (RSA-2048 and
# Ed25519) replaced by a fixed dummy signature, everything else as is
# (canonicalization, body hash, header folding, JSON, MIME, queue, SQLite,
# HTTP). It shows what the rest of the send path can do on this machine.
# The tree is copied to a temporary directory, bench/nosign.patch applied
# there and built; the source tree is not touched.
#
# Usage: bench/whatif-nosign.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar cf - --exclude='./build*' --exclude='./.git' --exclude='./var' \
    --exclude='node_modules' meson.build meson_options.txt src tests fuzz bench |
    tar xf - -C "$work"
patch -s -d "$work" -p1 <bench/nosign.patch
meson setup -Dbuildtype=debugoptimized "$work/build" "$work" >/dev/null
ninja -C "$work/build" pigeon >/dev/null
echo "what-if build: bench/nosign.patch applied, BENCH_NOSIGN=1"
BENCH_NOSIGN=1 SKIP_SPEED=1 PIGEON_BIN=$work/build/pigeon bench/run.sh "$@"
