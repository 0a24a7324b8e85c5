/*
 * crypto_lazy.c — the libcrypto functions libvindex calls (SHA-256 through EVP), loaded
 * on first use: only extract, verify and the content digest hash (see lazylib.h).
 */
#include <openssl/evp.h>

#include "lazylib.h"

VX_TRAMPOLINE(VX_LIB_CRYPTO, EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
VX_TRAMPOLINE_VOID(VX_LIB_CRYPTO, EVP_MD_CTX_free, (EVP_MD_CTX *c), (c))
VX_TRAMPOLINE(VX_LIB_CRYPTO, const EVP_MD *, EVP_sha256, (void), ())
VX_TRAMPOLINE(VX_LIB_CRYPTO, const EVP_MD *, EVP_sha1, (void), ()) /* git blob names (HF cache, src/verify_target.c) */
VX_TRAMPOLINE(VX_LIB_CRYPTO, int, EVP_DigestInit_ex, (EVP_MD_CTX *c, const EVP_MD *t, ENGINE *e), (c, t, e))
VX_TRAMPOLINE(VX_LIB_CRYPTO, int, EVP_DigestUpdate, (EVP_MD_CTX *c, const void *d, size_t n), (c, d, n))
VX_TRAMPOLINE(VX_LIB_CRYPTO, int, EVP_DigestFinal_ex, (EVP_MD_CTX *c, unsigned char *md, unsigned int *n), (c, md, n))
VX_TRAMPOLINE(VX_LIB_CRYPTO, int, EVP_MD_CTX_copy_ex, (EVP_MD_CTX *out, const EVP_MD_CTX *in), (out, in)) /* chunk 0 (outfile.c) */
VX_TRAMPOLINE(VX_LIB_CRYPTO, int, EVP_Digest,
              (const void *d, size_t n, unsigned char *md, unsigned int *sz, const EVP_MD *t, ENGINE *e),
              (d, n, md, sz, t, e))
