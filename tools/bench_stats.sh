#!/bin/sh
# bench_stats.sh VX — `vindex stats VX` with its defaults against the same statistics in
# numpy (tools/bench_stats_numpy.py) over the same files, in the same run: wall time and
# peak RSS (/usr/bin/time -v) of each process, the targets (stats <= 30 s, >= 3x faster,
# peak RSS <= 1/4 of numpy's), and the largest relative difference of the numbers both
# compute deterministically (norms, column moments, spectrum). Called by tools/bench.sh;
# exits 1 when the numbers disagree, never for a missed time target (that is reported).
set -u
BUILD=${BUILD:-build}
VX=$1
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat "$VX"/*.bin > /dev/null   # the page cache holds the files for both sides

# wall seconds and max RSS (KB) of one run from /usr/bin/time -v's report
tv() { # file key
    case $2 in
    wall) sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
          awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' ;;
    rss) sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" ;;
    esac
}

/usr/bin/time -v -o "$TMP/c.time" env VINDEX_STATS_TIMING=1 "$BUILD/vindex" stats "$VX" --json > "$TMP/c.json" 2> "$TMP/c.err" ||
    { cat "$TMP/c.err"; echo "bench_stats: vindex stats failed"; exit 1; }
c_s=$(tv "$TMP/c.time" wall); c_kb=$(tv "$TMP/c.time" rss)
echo "   vindex stats: ${c_s} s, peak RSS ${c_kb} KB   phases: $(tr '\n' ';' < "$TMP/c.err" | sed 's/stats: //g; s/  */ /g')"
/usr/bin/time -v -o "$TMP/n.time" "$PY" tools/bench_stats_numpy.py "$VX" --json "$TMP/n.json" > "$TMP/n.out" 2>&1 ||
    { cat "$TMP/n.out"; echo "bench_stats: the numpy baseline failed"; exit 1; }
n_s=$(tv "$TMP/n.time" wall); n_kb=$(tv "$TMP/n.time" rss)
echo "   numpy:        ${n_s} s, peak RSS ${n_kb} KB   ($(cat "$TMP/n.out"))"
"$PY" - "$TMP/c.json" "$TMP/n.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["embeddings"]; n = json.load(open(sys.argv[2]))
worst, where = 0.0, ""
for sec, keys in (("norms", ["mean", "std", "min", "max", "p1", "p5", "p25", "p50", "p75", "p95", "p99"]),
                  ("dims", ["mean_of_means", "mean_of_stds"]),
                  ("spectrum", ["total_variance", "pc1", "pc1_3", "participation_ratio"])):
    for k in keys:
        a, b = c[sec][k], n[sec][k]
        d = abs(a - b) / max(abs(b), 1e-12)
        if sec == "dims" and k == "mean_of_means":
            d = abs(a - b) / max(n["dims"]["mean_of_stds"], 1e-12)  # a mean near 0: relative to the spread
        if d > worst:
            worst, where = d, f"{sec}.{k}"
ints = [(k, c["spectrum"][k], n["spectrum"][k]) for k in ("dims_80", "dims_90", "dims_95", "dims_99")]
ok = worst <= 1e-3 and all(abs(a - b) <= 1 for _, a, b in ints) and c["norms"]["zero_rows"] == n["norms"]["zero_rows"]
print(f"   max relative difference vindex vs numpy (norms, moments, spectrum): {worst:.2e} ({where}); "
      f"dims 80/90/95/99 {[a for _, a, _ in ints]} vs {[b for _, _, b in ints]}  {'OK' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
EOF
agree=$?
awk -v c="$c_s" -v n="$n_s" -v ck="$c_kb" -v nk="$n_kb" 'BEGIN {
    printf "   stats wall time:              %8.2f s       (target <= 30 s)  %s\n", c, (c <= 30 ? "OK" : "MISSED")
    printf "   stats vs numpy, time:         %8.1fx faster  (target >= 3x)    %s\n", n / c, (n / c >= 3 ? "OK" : "MISSED")
    printf "   stats vs numpy, peak RSS:     %8.1fx smaller (target >= 4x)    %s\n", nk / ck, (nk / ck >= 4 ? "OK" : "MISSED")
}'
exit $agree
