/*
 * digest.c — the content digest (see digest.h). Lines are rebuilt from the parsed entries,
 * so two SHA256SUMS that list the same hashes give the same digest even if one was sorted
 * differently or written by `sha256sum -b`.
 */
#include "digest.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int by_name(const void *a, const void *b) {
    return strcmp(((const vx_sum *const *)a)[0]->name, ((const vx_sum *const *)b)[0]->name);
}

int vx_digest_of_sums(char hex[65], const vx_sum *s, size_t n, vx_err *err) {
    const vx_sum **order = malloc((n ? n : 1) * sizeof *order);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!order || !c) {
        free(order);
        EVP_MD_CTX_free(c);
        return vx_fail(err, VX_ENOMEM, "content digest: out of memory");
    }
    for (size_t i = 0; i < n; i++) order[i] = &s[i];
    qsort(order, n, sizeof *order, by_name); /* strcmp orders by unsigned bytes */
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(order[i]->name, "manifest.json") || !strcmp(order[i]->name, "SHA256SUMS")) continue;
        char line[64 + 2 + sizeof s->name + 1];
        int len = snprintf(line, sizeof line, "%s  %s\n", order[i]->hex, order[i]->name);
        EVP_DigestUpdate(c, line, (size_t)len);
    }
    uint8_t md[32];
    unsigned int mdn = 32;
    EVP_DigestFinal_ex(c, md, &mdn);
    EVP_MD_CTX_free(c);
    free(order);
    vx_hex(hex, md, 32);
    return VX_OK;
}

int vx_sums_digest(char hex[65], const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    vx_sum *s = NULL;
    size_t n = 0;
    int rc = vx_sums_parse(&s, &n, buf, len, fname, err);
    if (rc == VX_OK) rc = vx_digest_of_sums(hex, s, n, err);
    free(s);
    return rc;
}
