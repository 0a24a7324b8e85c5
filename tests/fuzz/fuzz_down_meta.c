/*
 * fuzz_down_meta.c — vx_dm_header_check and vx_dm_records_check (down_meta.bin, spec
 * R-D1..R-D4) on arbitrary bytes. The shape the checks compare against normally comes
 * from a validated index.json; here it comes from the input's own header fields, reduced
 * into the ranges R-I2 allows (every caller has validated index.json first), so the
 * fuzzer can reach valid files and the record checker, which runs with a large and a small
 * vocabulary size V.
 */
#include "vxmeta.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t dm_field_(const uint8_t *data, size_t size, size_t off, uint32_t lo, uint32_t hi) {
    uint32_t v = size >= off + 4 ? vx_le32(data + off) : 1;
    return v >= lo && v <= hi ? v : lo + v % (hi - lo + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t L = dm_field_(data, size, 12, 1, VX_MAX_LAYERS);
    uint32_t F = dm_field_(data, size, 16, 1, VX_MAX_FEATS);
    uint32_t K = dm_field_(data, size, 20, 1, VX_MAX_TOPK);
    vx_err err = { 0 };
    int rc = vx_dm_header_check(data, size, L, F, K, "down_meta.bin", &err);
    fuzz_result("fuzz_down_meta", rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_EUNSUPPORTED, "rc %d", rc);
        FUZZ_ASSERT(err.msg[0], "no message");
    } else {
        FUZZ_ASSERT(size == VX_DM_HEADER + (uint64_t)L * 2 * F * 16 * K, "accepted %zu bytes for L %u F %u K %u", size, L, F, K);
    }
    static const uint32_t vocab[2] = { VX_MAX_TOPK * 4, 8 };
    for (int vi = 0; vi < 2; vi++) {
        uint32_t V = vocab[vi] < K ? K : vocab[vi];
        /* The deep check repeats the header check itself, so it is safe on any bytes. */
        uint64_t bad = vx_dm_records_check(data, size, L, F, K, V, "down_meta.bin", &err);
        FUZZ_ASSERT(rc == VX_OK || bad > 0, "records check passes a file the header check rejects");
        if (rc != VX_OK || bad != 0) continue;
        /* every record as a query reads it: ids < V */
        uint64_t nrec = (uint64_t)L * 2 * F;
        for (uint64_t r = 0; r < nrec; r++) {
            const uint8_t *p = data + VX_DM_HEADER + r * 16 * K;
            for (uint32_t j = 0; j < 2 * K; j++) FUZZ_ASSERT(vx_le32(p + 8 * j) < V, "record %llu id", (unsigned long long)r);
        }
    }
    return 0;
}
