/*
 * fuzz_mapfile.c — vx_mapfile_parse (spec/map-format.md M1–M7) on arbitrary bytes, twice:
 * as given (so the checksum, M2, is exercised) and with the checksum recomputed over the
 * mutated bytes, so that mutations reach every rule behind it. What it accepts must be
 * within M3's bounds, finite, and encode back to exactly the bytes it was parsed from.
 */
#include <math.h>

#include <xxhash.h>

#include "mapfile.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void mapfile_one(const uint8_t *data, size_t size) {
    vx_mapfile m;
    vx_err err = { 0 };
    int rc = vx_mapfile_parse(&m, data, size, "map", &err);
    fuzz_result("fuzz_mapfile", rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_EUNSUPPORTED || rc == VX_ENOMEM, "rc %d", rc);
        FUZZ_ASSERT(!m.path[0] && !m.path[1] && !m.R && !m.W && !m.mu0 && !m.muz && !m.muy, "error leaves arrays behind");
        FUZZ_ASSERT(err.msg[0], "no message");
        return;
    }
    FUZZ_ASSERT(m.source <= 1 && m.d >= 1 && m.d <= m.hs && m.hs <= VX_MAPFILE_MAX_DIM, "widths %u %u", m.hs, m.d);
    FUZZ_ASSERT((m.hs > m.d) == (m.W != NULL) && (m.W != NULL) == (m.mu0 != NULL), "PCA arrays");
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(m.path[k]);
        FUZZ_ASSERT(n >= 1 && n <= VX_MAPFILE_MAX_PATH, "path %d length %zu", k, n);
        FUZZ_ASSERT(strlen(m.digest[k]) == 64 && strspn(m.digest[k], "0123456789abcdef") == 64, "digest %d", k);
    }
    size_t d = m.d, hs = m.hs;
    for (size_t i = 0; i < d * d; i++) FUZZ_ASSERT(isfinite(m.R[i]), "R[%zu]", i);
    for (size_t i = 0; i < d; i++) FUZZ_ASSERT(isfinite(m.muz[i]) && isfinite(m.muy[i]), "means[%zu]", i);
    if (m.W) {
        for (size_t i = 0; i < d * hs; i++) FUZZ_ASSERT(isfinite(m.W[i]), "W[%zu]", i);
        for (size_t i = 0; i < hs; i++) FUZZ_ASSERT(isfinite(m.mu0[i]), "mu0[%zu]", i);
    }
    uint8_t *b = NULL;
    size_t len = 0;
    rc = vx_mapfile_encode(&b, &len, &m, &err);
    FUZZ_ASSERT(rc == VX_OK, "an accepted map does not encode: %s", err.msg);
    FUZZ_ASSERT(len == size && !memcmp(b, data, size), "encode(parse(x)) != x (%zu vs %zu bytes)", len, size);
    free(b);
    vx_mapfile_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mapfile_one(data, size);
    if (size >= VX_MAPFILE_HEADER + 8) {
        uint8_t *c = malloc(size);
        if (!c) return 0;
        memcpy(c, data, size);
        XXH64_canonical_t h;
        XXH64_canonicalFromHash(&h, XXH3_64bits(c, size - 8));
        memcpy(c + size - 8, &h, 8);
        mapfile_one(c, size);
        free(c);
    }
    return 0;
}
