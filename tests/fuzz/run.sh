#!/bin/sh
# tests/fuzz/run.sh [SECONDS] — build every libFuzzer target (tests/fuzz/fuzz_*.c) with
# clang against the format layer built with -fsanitize=fuzzer-no-link,address,undefined, and
# run each for SECONDS (default 60) on a scratch copy of its corpus, one at a time.
# New inputs libFuzzer finds stay in $BUILD/corpus/<target>/ (merge them into
# tests/fuzz/corpus/<target>/ with `-merge=1` when they add coverage); crashes are written
# to $BUILD/crashes/. Prints the executions each target ran, and exits 1 if any target
# found a crash. Run from the repository root. Environment: BUILD (default build-fuzz),
# FUZZ_TARGETS (space-separated subset), FUZZ_JOBS (parallel workers per target, default 1).
set -u
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${1:-60}
[ -n "$SECONDS_EACH" ] || SECONDS_EACH=60
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# every target with the largest input worth mutating for its format
TARGETS=${FUZZ_TARGETS:-"fuzz_safetensors fuzz_index_json fuzz_vocab_bin fuzz_down_meta fuzz_sums fuzz_tokenizer fuzz_config fuzz_shard_index fuzz_tar fuzz_mapfile fuzz_tokregex"}
max_len() {
    case $1 in
        fuzz_safetensors) echo 4096 ;;   # header + a little data: the rules are all in the header
        fuzz_index_json) echo 16384 ;;   # the fixtures' index.json is 3-5 KB
        fuzz_vocab_bin) echo 8192 ;;
        fuzz_down_meta) echo 8192 ;;
        fuzz_sums) echo 2048 ;;          # ten lines of ~85 bytes
        fuzz_tokenizer) echo 16384 ;;
        fuzz_config) echo 4096 ;;
        fuzz_shard_index) echo 8192 ;;
        fuzz_mapfile) echo 4096 ;;       # widths up to ~16 x 8 with short paths
        fuzz_tar) echo 12288 ;;          # the seeds are whole 10240-byte tar records
        fuzz_tokregex) echo 4096 ;;      # a pattern, NUL, a text
        *) echo 4096 ;;
    esac
}

# The targets reach only the format layer (bytes on disk), so only format/*.c is built,
# with coverage instrumentation; src/ and cli/ are not needed.
mkdir -p "$BUILD/fuzzlib"
CFLAGS_F="-Iinclude -Iformat -D_GNU_SOURCE -std=c11 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wno-unused-parameter -O1 -g"
objs=""
for c in format/*.c; do
    o="$BUILD/fuzzlib/$(basename "$c" .c).o"
    $CC $CFLAGS_F -fsanitize=fuzzer-no-link $SAN -c "$c" -o "$o" || exit 1
    objs="$objs $o"
done
rm -f "$BUILD/fuzzlib/libvxformat.a"
ar rcs "$BUILD/fuzzlib/libvxformat.a" $objs || exit 1
mkdir -p "$BUILD/fuzz" "$BUILD/corpus" "$BUILD/crashes"
for t in $TARGETS; do
    $CC $CFLAGS_F -fsanitize=fuzzer $SAN "tests/fuzz/$t.c" -o "$BUILD/fuzz/$t" "$BUILD/fuzzlib/libvxformat.a" \
        -lcjson -lxxhash -lutf8proc -lcrypto -lzstd -lm -lpthread || exit 1
done

here=$(pwd)
case $BUILD in /*) BIN=$BUILD ;; *) BIN=$here/$BUILD ;; esac
VX_FIXTURES=$here/tests/fixtures   # the checkpoint targets link the tiny-qwen3 fixture
export VX_FIXTURES
status=0
summary=""
for t in $TARGETS; do
    work="$BUILD/corpus/$t"
    mkdir -p "$work" "$BUILD/crashes/$t"
    cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    log="$BUILD/fuzz/$t.log"
    jobs=""
    # with -jobs libFuzzer writes fuzz-N.log into the working directory: run it in $BUILD
    [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
    (cd "$BUILD" && "$BIN/fuzz/$t" -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 $jobs -print_final_stats=1 -artifact_prefix="crashes/$t/" "corpus/$t") >"$log" 2>&1
    rc=$?
    [ -n "$jobs" ] && cat "$BUILD"/fuzz-*.log >>"$log" 2>/dev/null && rm -f "$BUILD"/fuzz-*.log
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
    if [ "$rc" -ne 0 ]; then
        status=1
        line="$t: $execs executions, FAILED (exit $rc; see $log and $BUILD/crashes/$t/)"
        grep -E 'ERROR: |FUZZ_ASSERT|SUMMARY' "$log" | head -n 5
    else
        line="$t: $execs executions clean in ${SECONDS_EACH}s"
    fi
    echo "$line"
    summary="$summary$line
"
done
echo "---"
printf '%s' "$summary"
exit $status
