/*
 * fuzz_vocab_bin.c — vx_vocab_parse (vocab.bin, spec/vocab-bin.md V1-V12) on arbitrary
 * bytes. vx_vocab_parse validates once so lookups can read the map unchecked; this target
 * holds it to that: after a success, every entry's strings are read, every raw string is
 * looked up (the answer must carry the same raw bytes), and out-of-range ids answer empty.
 */
#include "vocab.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_vocab v;
    vx_err err = { 0 };
    int rc = vx_vocab_parse(&v, data, size, "vocab.bin", &err);
    fuzz_result("fuzz_vocab_bin", rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_EUNSUPPORTED, "rc %d", rc);
        FUZZ_ASSERT(err.msg[0], "no message for rc %d", rc);
        return 0;
    }
    FUZZ_ASSERT(v.nbuckets && !(v.nbuckets & (v.nbuckets - 1)) && v.nbuckets >= 2 * (uint64_t)v.n, "nbuckets %u n %u",
                v.nbuckets, v.n);
    for (uint32_t id = 0; id < v.n; id++) {
        const char *raw, *text;
        size_t rl, tl;
        vx_vocab_get(&v, id, &raw, &rl, &text, &tl);
        FUZZ_ASSERT((const uint8_t *)raw >= data && (const uint8_t *)raw + rl <= data + size, "id %u raw outside", id);
        FUZZ_ASSERT((const uint8_t *)text >= data && (const uint8_t *)text + tl <= data + size, "id %u text outside", id);
        fuzz_touch(raw, rl);
        fuzz_touch(text, tl);
        int64_t got = vx_vocab_find(&v, raw, rl);
        FUZZ_ASSERT(got >= -1 && got < (int64_t)v.n, "find -> %lld", (long long)got);
        if (got >= 0) {
            const char *r2;
            size_t l2;
            vx_vocab_get(&v, (uint32_t)got, &r2, &l2, NULL, NULL);
            FUZZ_ASSERT(l2 == rl && memcmp(r2, raw, rl) == 0, "find(raw of %u) -> %lld with other bytes", id, (long long)got);
        }
        if (id >= 4096) break; /* bounded work per input: later entries are like the first */
    }
    const char *raw, *text;
    size_t rl = 1, tl = 1;
    vx_vocab_get(&v, v.n, &raw, &rl, &text, &tl);
    FUZZ_ASSERT(rl == 0 && tl == 0, "id n answers a string");
    static const char *const probes[] = { " Paris", "Hello", "\xe2\x96\x81the", "", "\xff\xfe" };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        size_t ol = 0;
        char *r = vx_vocab_to_raw(v.style, probes[i], strlen(probes[i]), &ol);
        if (r) {
            int64_t got = vx_vocab_find(&v, r, ol);
            FUZZ_ASSERT(got >= -1 && got < (int64_t)v.n, "find -> %lld", (long long)got);
            free(r);
        }
    }
    return 0;
}
