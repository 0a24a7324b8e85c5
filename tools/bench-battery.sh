#!/bin/sh
# bench-battery.sh — what format version 2's weight battery costs extraction: whole
# extractions of a few layers of the Qwen3-8B shape (H 4096, I 12288, V 151936) by a build
# without the battery (BASE, default the commit before it) and by this tree's build,
# alternated ROUNDS times, then tools/bench_battery's per-piece costs. doc/benchmarks.md
# ("Weight battery") explains the numbers. Needs ~8 GB in VX_BENCH_DIR and a long time on
# a busy machine: run it niced, and read the `cores` column before the seconds.
#
# Environment: BUILD (this tree's build, default build), BASE (commit, default fa64d75),
# VX_BENCH_DIR (default /tmp/vx-bench-battery), LAYERS (default 4), ROUNDS (default 3).
set -u
BUILD=${BUILD:-build}
BASE=${BASE:-fa64d75}
DIR=${VX_BENCH_DIR:-/tmp/vx-bench-battery}
LAYERS=${LAYERS:-4}
ROUNDS=${ROUNDS:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OPENBLAS_CORETYPE=${VX_BENCH_CORETYPE:-SkylakeX}
export OPENBLAS_CORETYPE
mkdir -p "$DIR" || exit 1
for b in "$BUILD/tools/mkckpt" "$BUILD/tools/bench_battery"; do
    [ -x "$b" ] || { echo "bench-battery: $b missing: run 'make BUILD=$BUILD all tools' first" >&2; exit 1; }
done
echo "== weight battery cost ($(date -u +%Y-%m-%dT%H:%M:%SZ)); $(nproc) cores; $(uptime | sed 's/.*load/load/')"
echo "new: $(git -C "$HERE" rev-parse --short HEAD) ($BUILD); base: $BASE; OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
if [ ! -x "$DIR/base/build/tools/mkckpt" ]; then
    rm -rf "$DIR/base" && mkdir -p "$DIR/base" &&
        git -C "$HERE" archive "$BASE" | tar -x -C "$DIR/base" &&
        make -C "$DIR/base" -j2 all tools > "$DIR/base-build.log" 2>&1 ||
        { echo "bench-battery: cannot build $BASE (see $DIR/base-build.log)" >&2; exit 1; }
fi
CK="$DIR/ckpt-8b-$LAYERS"
if [ ! -f "$CK/.done" ]; then
    rm -rf "$CK"
    "$BUILD/tools/mkckpt" --shape 8b "$CK" --layers "$LAYERS" --tokenizer "$HERE/tests/fixtures/tiny-qwen3/tokenizer.json" || exit 1
    touch "$CK/.done"
fi
i=1
while [ "$i" -le "$ROUNDS" ]; do
    for v in base new; do
        mk="$BUILD/tools/mkckpt"
        [ "$v" = base ] && mk="$DIR/base/build/tools/mkckpt"
        rm -rf "$DIR/out-$v"
        echo "-- $v, round $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
        "$mk" --bench "$CK" "$DIR/out-$v" 2> /dev/null | grep -E "^svd|per layer|^write|^project|RESULT"
    done
    i=$((i + 1))
done
rm -rf "$DIR/out-base" "$DIR/out-new"
echo "-- pieces (tools/bench_battery)"
"$BUILD/tools/bench_battery" 3
