/*
 * fuzz_sums.c — vx_sums_parse (SHA256SUMS, spec R-S1) on arbitrary bytes. Accepted
 * entries must be 64 lowercase hex digits and plain, unique, NUL-terminated names.
 */
#include "vxmeta.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_sum *s = NULL;
    size_t n = 12345;
    vx_err err = { 0 };
    int rc = vx_sums_parse(&s, &n, data, size, "SHA256SUMS", &err);
    fuzz_result("fuzz_sums", rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_ENOMEM, "rc %d", rc);
        FUZZ_ASSERT(s == NULL && n == 0, "error leaves a result behind (%zu entries)", n);
        FUZZ_ASSERT(err.msg[0], "no message");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(strlen(s[i].hex) == 64 && strspn(s[i].hex, "0123456789abcdef") == 64, "entry %zu hex", i);
        size_t nl = strnlen(s[i].name, sizeof s[i].name);
        FUZZ_ASSERT(nl > 0 && nl < sizeof s[i].name, "entry %zu name length %zu", i, nl);
        FUZZ_ASSERT(!strchr(s[i].name, '/') && s[i].name[0] != '.', "entry %zu name '%s' not plain", i, s[i].name);
        for (size_t j = 0; j < i; j++) FUZZ_ASSERT(strcmp(s[i].name, s[j].name) != 0, "'%s' twice", s[i].name);
    }
    free(s);
    return 0;
}
