#!/bin/sh
# bench_archive.sh VX — archives (spec/archive.md) on the vindex VX (make bench passes the
# Qwen3-8B-shaped synthetic one): pack throughput and ratio at level 3, with and without
# long-distance matching; the same on the extracted fixtures (real tokenizers and
# checkpoints, tiny); streaming `verify` of the archive against the unix way of checking
# one (`zstd -dc | tar -x`, then `sha256sum -c`), wall time and peak RSS of each.
# Targets: verify >= 2x faster than the unix way, its peak RSS <= 64 MB.
#   BUILD  the build directory (default build)
set -u
BUILD=${BUILD:-build}
VX=$1
VXB=$(realpath "$BUILD/vindex")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vx-bench-archive.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
now_ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'; }

size=$(du -sb "$VX" | cut -f1)
echo "   vindex: $VX, $size bytes; $(nproc) cores; zstd $(zstd -V | sed 's/.*v\([0-9.]*\).*/\1/')"
cat "$VX"/* > /dev/null
for opt in "" "--long"; do
    A="$TMP/a.tar.zst"
    rm -f "$A"
    t0=$(now_ns)
    /usr/bin/time -f %M -o "$TMP/rss" "$VXB" pack "$VX" -o "$A" $opt --json > "$TMP/pack.json" 2> "$TMP/err" ||
        { cat "$TMP/err"; echo "bench: pack failed"; exit 1; }
    ms=$(ms_since "$t0")
    awk -v ms="$ms" -v rss="$(cat "$TMP/rss")" -v opt="${opt:-(default)}" -v j="$(cat "$TMP/pack.json")" 'BEGIN {
        match(j, /"tar_bytes":[0-9]+/); t = substr(j, RSTART + 12, RLENGTH - 12)
        match(j, /"compressed_bytes":[0-9]+/); c = substr(j, RSTART + 19, RLENGTH - 19)
        printf "   pack level 3 %-10s %8.0f ms  %6.0f MB/s  ratio %.4f  (%s -> %s bytes)  peak RSS %d KB\n",
               opt, ms, t / ms / 1e3, t / c, t, c, rss }'
    [ -z "$opt" ] && mv "$A" "$TMP/main.tar.zst"
done
A="$TMP/main.tar.zst"

echo "   fixtures (tiny real checkpoints; none is a trained model):"
for fx in tiny-llama tiny-qwen3 tiny-gemma3 tiny-gpt2; do
    "$VXB" extract "tests/fixtures/$fx" -o "$TMP/$fx.vindex" > /dev/null 2>&1 || continue
    for opt in "" "--long"; do
        "$VXB" pack "$TMP/$fx.vindex" -o "$TMP/$fx.tar.zst" --force $opt --json > "$TMP/p.json" || exit 1
        awk -v fx="$fx" -v opt="${opt:-(default)}" -v j="$(cat "$TMP/p.json")" 'BEGIN {
            match(j, /"tar_bytes":[0-9]+/); t = substr(j, RSTART + 12, RLENGTH - 12)
            match(j, /"compressed_bytes":[0-9]+/); c = substr(j, RSTART + 19, RLENGTH - 19)
            printf "     %-12s %-10s ratio %.3f (%s -> %s bytes)\n", fx, opt, t / c, t, c }'
    done
done

# verify, and the unix way, alternated; best of 3 each; the archive is in the page cache
best_v=""; best_u=""; rss_v=0; rss_u=0
for rep in 1 2 3; do
    cat "$A" > /dev/null
    t0=$(now_ns)
    /usr/bin/time -f %M -o "$TMP/rss" "$VXB" verify "$A" > "$TMP/v.out" 2>&1 || { cat "$TMP/v.out"; echo "bench: verify failed"; exit 1; }
    ms=$(ms_since "$t0")
    [ -z "$best_v" ] || [ "$ms" -lt "$best_v" ] && best_v=$ms
    rss_v=$(cat "$TMP/rss")
    rm -rf "$TMP/x"
    mkdir "$TMP/x"
    t0=$(now_ns)
    /usr/bin/time -f %M -o "$TMP/rss1" sh -c "zstd -dc '$A' | tar -x -C '$TMP/x'" || exit 1
    /usr/bin/time -f %M -o "$TMP/rss2" sh -c "cd '$TMP'/x/* && sha256sum -c --quiet SHA256SUMS" || exit 1
    ms=$(ms_since "$t0")
    [ -z "$best_u" ] || [ "$ms" -lt "$best_u" ] && best_u=$ms
    rss_u=$(cat "$TMP/rss1" "$TMP/rss2" | sort -n | tail -n 1)
done
rm -rf "$TMP/x"
echo "   verify ARCHIVE (streaming, one pass):     ${best_v} ms, peak RSS ${rss_v} KB"
echo "   zstd -dc | tar -x, then sha256sum -c:      ${best_u} ms, peak RSS ${rss_u} KB (largest process)"
awk -v v="$best_v" -v u="$best_u" -v r="$rss_v" 'BEGIN {
    printf "   verify vs the unix way:   %6.2fx faster  (target >= 2x)     %s\n", u / v, (u / v >= 2 ? "OK" : "MISSED")
    printf "   verify peak RSS:          %6.1f MB       (target <= 64 MB)  %s\n", r / 1024, (r / 1024 <= 64 ? "OK" : "MISSED")
}'
