#!/bin/sh
# pagecache.sh FILE... — put FILEs into the page cache the way a fresh extraction leaves
# them: rewritten in whole 2 MiB writes (same bytes, same name, renamed into place).
# Why: this kernel keeps a file written in 2 MiB chunks in 2 MiB folios, which a mapping
# then maps one PMD at a time; the same file read back after a reboot (cat, readahead) sits
# in 4 KiB folios, and a scan of embeddings.bin pays ~300k page faults (measured: 27 ms vs
# 440 ms for a 1.245 GB two-thread read). Benchmarks call this first, so their numbers do
# not depend on whether the machine rebooted since the files were made.
set -u
for f in "$@"; do
    [ -f "$f" ] || continue
    dd if="$f" of="$f.pc-tmp" bs=2M status=none && mv -f "$f.pc-tmp" "$f" || { rm -f "$f.pc-tmp"; exit 1; }
done
# Written back now, not during the first measurement (a scan racing writeback ran 6x slower).
sync
