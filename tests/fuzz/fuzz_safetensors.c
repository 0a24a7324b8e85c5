/*
 * fuzz_safetensors.c — vx_st_parse on arbitrary bytes (the whole file: u64 header length,
 * JSON header, data buffer). On success the parser promises (safetensors.h, spec S1-S9):
 * every tensor lies inside the buffer, byte size = elements x dtype bits / 8, the tensors
 * tile the data buffer exactly, and names are unique — checked here, then every tensor's
 * bytes are read so ASan sees any pointer that escaped the buffer.
 */
#include "safetensors.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_st_file f;
    memset(&f, 0, sizeof f);
    vx_err err = { 0 };
    int rc = vx_st_parse(&f, data, size, "fuzz.safetensors", &err);
    fuzz_result("fuzz_safetensors", rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_ENOMEM, "rc %d", rc);
        FUZZ_ASSERT(err.code == rc && err.msg[0], "no message for rc %d", rc);
        vx_st_free(&f);
        return 0;
    }
    FUZZ_ASSERT(size >= 8, "accepted %zu bytes", size);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)data[i] << (8 * i);
    FUZZ_ASSERT(n <= VX_ST_MAX_HEADER && 8 + n <= size, "header length %llu", (unsigned long long)n);
    const uint8_t *base = data + 8 + n;
    uint64_t data_len = size - 8 - n, total = 0;
    for (size_t i = 0; i < f.n; i++) {
        const vx_st_tensor *t = &f.tensors[i];
        FUZZ_ASSERT(t->name && t->dtype < VX_DT_COUNT && t->ndim >= 0 && t->ndim <= VX_ST_MAX_DIMS, "tensor %zu", i);
        FUZZ_ASSERT(t->begin <= t->end && t->end <= data_len, "%s: [%llu,%llu) of %llu", t->name,
                    (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_len);
        FUZZ_ASSERT(t->data == base + t->begin, "%s: data pointer", t->name);
        uint64_t ne = 1;
        for (int d = 0; d < t->ndim; d++) FUZZ_ASSERT(!__builtin_mul_overflow(ne, t->shape[d], &ne), "%s: shape", t->name);
        FUZZ_ASSERT(ne == t->nelem, "%s: nelem %llu, shape says %llu", t->name, (unsigned long long)t->nelem,
                    (unsigned long long)ne);
        unsigned bits = vx_dtype_bits(t->dtype);
        /* ne*bits cannot overflow once the tensor fits the buffer: checked by the parser */
        FUZZ_ASSERT((unsigned __int128)ne * bits == (unsigned __int128)(t->end - t->begin) * 8, "%s: %llu elements of %u bits in %llu bytes",
                    t->name, (unsigned long long)ne, bits, (unsigned long long)(t->end - t->begin));
        FUZZ_ASSERT(vx_st_find(&f, t->name) == t, "%s: find returns another tensor (duplicate name?)", t->name);
        FUZZ_ASSERT(strcmp(t->name, "__metadata__") != 0, "tensor named __metadata__");
        fuzz_touch(t->name, strlen(t->name));
        fuzz_touch(t->data, (size_t)(t->end - t->begin));
        total += t->end - t->begin;
    }
    /* exact tiling: no gaps, overlaps or trailing bytes (sizes sum to the buffer) */
    FUZZ_ASSERT(total == data_len, "tensors cover %llu of %llu data bytes", (unsigned long long)total,
                (unsigned long long)data_len);
    FUZZ_ASSERT(vx_st_find(&f, "\x01no such tensor") == NULL, "found a tensor that is not there");
    vx_st_free(&f);
    return 0;
}
