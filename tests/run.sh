#!/bin/sh
# Run every test program and script; each prints "N passed, N failed" as its last line.
# Prints the total last, in the same form. Exit 1 if anything failed.
BUILD=${BUILD:-build}
export BUILD
PY=${PYTHON:-/usr/bin/python3}
export PY
total_p=0; total_f=0; bad=""
run() { # name, command...
    name=$1; shift
    out=$("$@" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then line="0 passed, 1 failed"; fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    total_p=$((total_p + p)); total_f=$((total_f + f))
    if [ "$f" -ne 0 ]; then bad="$bad $name"; printf '%s\n' "$out" | tail -n 40; fi
    printf '%-34s %s\n' "$name" "$line"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for s in tests/t_*.sh; do
    [ -f "$s" ] || continue
    run "$(basename "$s")" sh "$s"
done
for s in tests/t_*.py; do
    [ -f "$s" ] || continue
    run "$(basename "$s")" "$PY" "$s"
done
[ -n "$bad" ] && echo "failing:$bad"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
