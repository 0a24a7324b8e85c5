/*
 * pending.c — TEMPORARY while the query and compare commands are being written in
 * parallel: weak definitions so the binary links. Each real cmd_*.c overrides them.
 * Removed once those files land.
 */
#include "cli.h"

#define PENDING(name) \
    __attribute__((weak)) int cmd_##name(int argc, char **argv) { \
        (void)argc; (void)argv; cli_error(#name ": not available in this build"); return EXIT_FAIL; }
PENDING(score)
PENDING(nearest)
PENDING(describe)
PENDING(compare)
