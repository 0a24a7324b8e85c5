#!/bin/sh
# bench-extract.sh — `make bench-extract`: extraction benchmark on synthetic checkpoints of
# real shape (Qwen3-0.6B and Qwen3-8B; on request Qwen3-Next-80B-A3B, "80b-moe": a few
# layers of the full per-layer shape in FP8, extrapolated to 48), with a numpy baseline,
# verify vs sha256sum and an SVD accuracy sample. doc/benchmarks.md explains every number.
#
# Environment:
#   BUILD               build directory holding vindex and tools/mkckpt (default build)
#   VX_BENCH_DIR        scratch directory for checkpoints and vindexes (default /tmp/vx-bench-extract)
#   VX_BENCH_SHAPES     shapes to run (default "0.6b 8b"; also "80b-moe")
#   VX_BENCH_MOE_LAYERS layers of the 80b-moe checkpoint (default 4: three linear-attention
#                       layers and one full-attention layer; ~1.6 GB each, plus 1.3 GB)
#   VX_BENCH_CORETYPE   OPENBLAS_CORETYPE for every run (default SkylakeX; the variable must be
#                       set before OpenBLAS loads, and some environments preset Haswell)
#   VX_BENCH_NUMPY_BOTH 1 (default): numpy baseline with SkylakeX and with the library's own
#                       choice (variable unset); 0: SkylakeX only
#   VX_BENCH_ACCURACY   1 (default): SVD accuracy sample on every shape run; 0: skip
#   VX_BENCH_CLI        1 (default): also time `vindex extract` end to end on 0.6b
# Checkpoints are generated once and reused (stamp file); delete VX_BENCH_DIR to regenerate.
set -u

BUILD=${BUILD:-build}
VX=$BUILD/vindex
MK=$BUILD/tools/mkckpt
DIR=${VX_BENCH_DIR:-/tmp/vx-bench-extract}
SHAPES=${VX_BENCH_SHAPES:-"0.6b 8b"}
MOE_L=${VX_BENCH_MOE_LAYERS:-4}
MOE_FULL_L=48 # Qwen3-Next-80B-A3B's num_hidden_layers
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
GEN=1 # bump when mkckpt's generator changes, so stale checkpoints are rebuilt
SEED=1

for b in "$VX" "$MK"; do
    [ -x "$b" ] || { echo "bench-extract: $b missing: run 'make BUILD=$BUILD all tools' first" >&2; exit 1; }
done
mkdir -p "$DIR" || exit 1

ENV_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}
OPENBLAS_CORETYPE=${VX_BENCH_CORETYPE:-SkylakeX}
export OPENBLAS_CORETYPE

say() { printf '%s\n' "$*"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
now() { date +%s.%N; }
free_gb() { df -Pk "$1" | awk 'NR == 2 { printf "%d", $4 / 1e6 }'; }
# "Maximum resident set size (kbytes): N" of a /usr/bin/time -v log, in GB
maxrss_gb() { awk -F': ' '/Maximum resident set size/ { printf "%.3f", $2 * 1024 / 1e9 }' "$1"; }
field() { sed -n "s/.*[ ]$2=\\([^ ]*\\).*/\\1/p" "$1" | tail -1; }

say "== vindex extraction benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
say "host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; $(uptime | sed 's/.*load/load/')"
say "git: $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null) $(git -C "$HERE/.." status --porcelain -- src format 2>/dev/null | wc -l | tr -d ' ') uncommitted src/format file(s)"
say "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE for every run (environment had: $ENV_CORETYPE)"
say "scratch: $DIR ($(free_gb "$DIR") GB free)"

# ------------------------------------------------------------------ checkpoints
ensure_ckpt() { # shape dir need_gb -> 0 ready, 1 skipped
    s=$1 d=$2 need=$3
    stamp="shape=$s seed=$SEED gen=$GEN"
    args=""
    if [ "$s" = 80b-moe ]; then args="--layers $MOE_L"; stamp="$stamp layers=$MOE_L"; fi
    if [ -f "$d/.mkckpt-stamp" ] && [ "$(cat "$d/.mkckpt-stamp")" = "$stamp" ]; then
        say "checkpoint $s: reusing $d ($(du -sh "$d" | cut -f1))"
        return 0
    fi
    rm -rf "$d"
    avail=$(free_gb "$DIR")
    if [ "$avail" -lt "$need" ]; then
        say "SKIP $s: $avail GB free in $DIR, need ~$need GB (checkpoint + vindex + headroom)"
        return 1
    fi
    t0=$(now)
    # shellcheck disable=SC2086 # args: options, split on purpose
    if ! nice "$MK" --shape "$s" "$d" $args --seed "$SEED" --tokenizer "$HERE/../tests/fixtures/tiny-qwen3/tokenizer.json" 2> "$DIR/mkckpt-$s.log"; then
        cat "$DIR/mkckpt-$s.log" >&2
        say "SKIP $s: mkckpt failed"
        rm -rf "$d"
        return 1
    fi
    echo "$stamp" > "$d/.mkckpt-stamp"
    say "checkpoint $s: generated in $(secs "$t0" "$(now)") s: $(tail -1 "$DIR/mkckpt-$s.log" | sed 's/^mkckpt: //')"
    return 0
}

cache_report() { # how much of the checkpoint is in the page cache before extraction
    fincore -b -n -o RES,SIZE "$1"/*.safetensors 2>/dev/null |
        awk '{ r += $1; s += $2 } END { if (s) printf "page cache: %.2f of %.2f GB of shards resident before extraction\n", r / 1e9, s / 1e9 }'
}

# ------------------------------------------------------------------ calibration
# A separate process, so its buffers stay out of the extraction's peak RSS.
"$MK" --calib > "$DIR/calib.out" 2>&1
cat "$DIR/calib.out"
RATES=$(awk '/^CALIB/ { for (i = 2; i <= 4; i++) { split($i, kv, "="); v[i] = kv[2] } print v[2] "," v[3] "," v[4] }' "$DIR/calib.out")

# ------------------------------------------------------------------ 80b-moe: floor, extrapolation
# dd of the largest shard: page cache (the extraction just read it; second of two reads)
# and disk (O_DIRECT, bypassing the cache; at most 2 GiB). Prints GB/s.
dd_rate() { # file, extra dd args
    f=$1; shift
    LC_ALL=C dd if="$f" of=/dev/null bs=16M "$@" 2>&1 |
        sed -n 's/^\([0-9]*\) bytes.*copied, \([0-9.e+-]*\) s,.*/\1 \2/p' | awk '{ printf "%.2f", $1 / $2 / 1e9 }'
}
MOE_LINE=""
moe_report() { # checkpoint, harness output, peak RSS GB
    shard=$(ls -S "$1"/*.safetensors | head -1)
    dd_rate "$shard" > /dev/null
    cache=$(dd_rate "$shard")
    disk=$(dd_rate "$shard" iflag=direct count=128)
    sgemm=$(echo "$RATES" | cut -d, -f1)
    say "disk and page cache ($(basename "$shard"), dd bs=16M): page cache $cache GB/s, O_DIRECT $disk GB/s; sgemm $sgemm GFLOP/s (CALIB)"
    awk -v cache="$cache" -v disk="$disk" -v sg="$sgemm" -v rss="$3" -v LF="$MOE_FULL_L" '
        /^MODEL/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); m[kv[1]] = kv[2] } }
        $1 == "svd" { svd = $2 } $1 == "project" { proj = $2 }
        /^RESULT/ { split($2, kv, "="); wall = kv[2] }
        END {
            L = m["L"]; N = m["I"]; H = m["H"]; wb = m["wbytes"]; V = m["V"]; F = m["F"]
            per = svd / L
            t48 = wall + (LF - L) * per + proj * (LF - L) / L
            logical = 5 * N * H * wb; uniq = 3 * N * H * wb; gram = 2 * N * H * (H + 1)
            tc = logical / 1e9 / cache; td = uniq / 1e9 / disk; tg = gram / 1e9 / sg
            warm = tc > tg ? tc : tg; cold = td > tg ? td : tg
            pf = 2 * V * H * 2 * F * LF / 1e9 / sg
            printf "80b-moe per layer:  %.2f s measured (mean of %d layers; N = %d neurons x H = %d, %d byte(s) each)\n", per, L, N, H, wb
            printf "80b-moe floor/layer: %.2f s warm = max(read %.2f GB at %.2f GB/s page cache: %.2f s, Gram 2 x N.H.(H+1) = %.0f GFLOP at %.0f GFLOP/s: %.2f s); cold %.2f s (%.2f GB unique at %.2f GB/s O_DIRECT: %.2f s)\n", warm, logical / 1e9, cache, tc, gram / 1e9, sg, tg, cold, uniq / 1e9, disk, td
            printf "80b-moe %d layers:   %.0f s extrapolated = %.1f s measured + %d x %.2f s/layer + projection x %d/%d (%.1f s -> %.1f s); floor %.0f s warm, %.0f s cold (%d x floor/layer + projection %.1f s at sgemm rate)\n", LF, t48, wall, LF - L, per, LF, L, proj, proj * LF / L, LF * warm + pf, LF * cold + pf, LF, pf
            printf "80b-moe peak RSS:   %.3f GB (/usr/bin/time -v), goal <= 4 GB %s\n", rss, rss <= 4 ? "OK" : "MISSED"
            printf "SUMMARY %.2f s/layer; %d layers %.0f s extrapolated (floor %.0f s warm, %.0f s cold); peak RSS %.3f GB, goal <= 4 GB %s\n", per, LF, t48, LF * warm + pf, LF * cold + pf, rss, rss <= 4 ? "OK" : "MISSED"
        }' "$2" > "$DIR/moe-summary.out"
    grep -v '^SUMMARY' "$DIR/moe-summary.out"
    MOE_LINE=$(sed -n 's/^SUMMARY //p' "$DIR/moe-summary.out")
}

# ------------------------------------------------------------------ extraction
RAN=""
for s in $SHAPES; do
    case $s in
    0.6b) need=4 ;;
    8b) need=40 ;;
    80b-moe) need=$((MOE_L * 2 + 4)) ;;
    *) need=1 ;;
    esac
    ck=$DIR/ckpt-$s
    out=$DIR/vindex-$s
    say ""
    say "== extract $s"
    if [ -f "$ck/.mkckpt-stamp" ]; then need=$((need > 5 ? 5 : need)); fi # only the vindex and headroom
    ensure_ckpt "$s" "$ck" "$need" || continue
    cache_report "$ck"
    /usr/bin/time -v "$MK" --bench "$ck" "$out" ${RATES:+--rates "$RATES"} > "$DIR/bench-$s.out" 2> "$DIR/bench-$s.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        grep -v '^bench: phase' "$DIR/bench-$s.err" | head -20
        say "FAIL $s: extraction failed (exit $rc)"
        continue
    fi
    cat "$DIR/bench-$s.out"
    say "/usr/bin/time -v: peak RSS $(maxrss_gb "$DIR/bench-$s.err") GB"
    eval "WALL_$(echo $s | tr .- __)=$(field "$DIR/bench-$s.out" wall_s)"
    eval "RSS_$(echo $s | tr .- __)=$(maxrss_gb "$DIR/bench-$s.err")"
    RAN="$RAN $s"
    [ "$s" = 80b-moe ] && moe_report "$ck" "$DIR/bench-$s.out" "$(maxrss_gb "$DIR/bench-$s.err")"
    if [ "$s" = 0.6b ] && [ "${VX_BENCH_CLI:-1}" = 1 ]; then
        /usr/bin/time -v "$VX" extract "$ck" -o "$out.cli" --force > /dev/null 2> "$DIR/cli-$s.err"
        say "vindex extract (CLI, same work, no progress): $(awk -F': ' '/Elapsed/ { print $2 }' "$DIR/cli-$s.err") wall (m:ss), peak RSS $(maxrss_gb "$DIR/cli-$s.err") GB"
        rm -rf "$out.cli"
    fi
done

# ------------------------------------------------------------------ numpy baseline
NP_BEST=""
NP_CONS=""
case " $RAN " in *" 0.6b "*)
    say ""
    say "== numpy baseline on 0.6b (float32 thin SVD per matrix + projection product + top-k)"
    runs="SkylakeX"
    [ "${VX_BENCH_NUMPY_BOTH:-1}" = 1 ] && runs="SkylakeX default"
    for k in $runs; do
        if [ "$k" = default ]; then
            say "-- OPENBLAS_CORETYPE unset (OpenBLAS picks its own kernels)"
            env -u OPENBLAS_CORETYPE "$PY" "$HERE/bench_extract_numpy.py" "$DIR/ckpt-0.6b" > "$DIR/numpy-$k.out" 2>&1
        else
            say "-- OPENBLAS_CORETYPE=SkylakeX"
            OPENBLAS_CORETYPE=SkylakeX "$PY" "$HERE/bench_extract_numpy.py" "$DIR/ckpt-0.6b" > "$DIR/numpy-$k.out" 2>&1
        fi
        cat "$DIR/numpy-$k.out"
        t=$(field "$DIR/numpy-$k.out" total_s)
        c=$(field "$DIR/numpy-$k.out" svd_plus_product_s)
        if [ -n "$t" ]; then
            if [ -z "$NP_BEST" ] || awk -v a="$t" -v b="$NP_BEST" 'BEGIN { exit !(a < b) }'; then NP_BEST=$t; NP_CONS=$c; fi
        fi
    done
;; esac

# ------------------------------------------------------------------ verify vs sha256sum
VER_RATIO=""
vs=""
case " $RAN " in *" 8b "*) vs=8b ;; *" 0.6b "*) vs=0.6b ;; esac
if [ -n "$vs" ]; then
    v=$DIR/vindex-$vs
    bytes=$(cd "$v" && awk '{ print $2 }' SHA256SUMS | xargs stat -c %s | awk '{ s += $1 } END { print s }')
    say ""
    say "== verify vs sha256sum on the $vs vindex ($(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e9 }') GB in SHA256SUMS; each run twice, second reported)"
    for i in 1 2; do
        t0=$(now); "$VX" verify "$v" > /dev/null 2>&1; vr=$?; tv=$(secs "$t0" "$(now)")
        t0=$(now); (cd "$v" && sha256sum -c --quiet SHA256SUMS > /dev/null 2>&1); sr=$?; ts=$(secs "$t0" "$(now)")
    done
    say "vindex verify: $tv s ($(awk -v b="$bytes" -v t="$tv" 'BEGIN { printf "%.2f", b / 1e9 / t }') GB/s, exit $vr; hashes + structure, $(nproc) threads)"
    say "sha256sum -c:  $ts s ($(awk -v b="$bytes" -v t="$ts" 'BEGIN { printf "%.2f", b / 1e9 / t }') GB/s, exit $sr)"
    VER_RATIO=$(awk -v a="$ts" -v b="$tv" 'BEGIN { printf "%.2f", a / b }')
fi

# ------------------------------------------------------------------ accuracy
ACC=""
if [ "${VX_BENCH_ACCURACY:-1}" = 1 ]; then
    for s in $RAN; do
        say ""
        say "== SVD accuracy sample, $s (numpy float64 dgesdd from the checkpoint vs the vindex)"
        "$PY" "$HERE/check_svd_sample.py" "$DIR/vindex-$s" "$DIR/ckpt-$s" > "$DIR/accuracy-$s.out" 2>&1
        cat "$DIR/accuracy-$s.out"
        r=$(field "$DIR/accuracy-$s.out" result)
        ACC="$ACC $s:${r:-error}"
    done
fi

# ------------------------------------------------------------------ ratios, last
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { ok = op == "le" ? a <= b : a >= b; print ok ? "MET" : "NOT MET" }'; }
say ""
say "== RATIOS (load at the end: $(uptime | sed 's/.*load average: //'))"
W06=${WALL_0_6b:-}
W8=${WALL_8b:-}
R8=${RSS_8b:-}
if [ -n "$W06" ]; then
    say "0.6b end to end:        $W06 s vs 60 s target -> $(ratio "$W06" 60) of budget, $(verdict "$W06" 60 le)"
else say "0.6b end to end:        not run"; fi
if [ -n "$W06" ] && [ -n "$NP_BEST" ]; then
    sp=$(ratio "$NP_BEST" "$W06")
    say "speedup vs numpy:       ${sp}x (numpy $NP_BEST s, faster of its runs) vs >= 5x target, $(verdict "$sp" 5 ge); vs numpy SVD+product only ($NP_CONS s): $(ratio "$NP_CONS" "$W06")x"
else say "speedup vs numpy:       not run"; fi
if [ -n "$W8" ]; then
    say "8b end to end:          $W8 s vs 150 s target (issue 17, battery included) -> $(ratio "$W8" 150) of budget, $(verdict "$W8" 150 le)"
    say "8b peak RSS:            $R8 GB vs 3 GB target, $(verdict "$R8" 3 le)"
else
    say "8b end to end:          not run (skipped or not selected; see above)"
    say "8b peak RSS:            not run"
fi
if [ -n "$VER_RATIO" ]; then
    say "verify / sha256sum:     ${VER_RATIO}x throughput on the $vs vindex vs >= 1.8x target, $(verdict "$VER_RATIO" 1.8 ge)"
else say "verify / sha256sum:     not run"; fi
say "SVD accuracy:          ${ACC:- not run}"
if [ -n "$MOE_LINE" ]; then say "80b-moe (FP8, $MOE_L of $MOE_FULL_L layers): $MOE_LINE"
else say "80b-moe:                not run (VX_BENCH_SHAPES=80b-moe selects it)"; fi
