/*
 * zstd_lazy.c — the libzstd functions libvindex calls, loaded on first use: only the
 * archive commands (pack, unpack, verify ARCHIVE) compress or decompress (see lazylib.h).
 * The header's default visibility is dropped here so these definitions stay hidden.
 */
#define ZSTDLIB_VISIBLE
#define ZSTDERRORLIB_VISIBLE
#include <zstd.h>
#include <zstd_errors.h>

#include "lazylib.h"

VX_TRAMPOLINE(VX_LIB_ZSTD, unsigned, ZSTD_isError, (size_t code), (code))
VX_TRAMPOLINE(VX_LIB_ZSTD, const char *, ZSTD_getErrorName, (size_t code), (code))
VX_TRAMPOLINE(VX_LIB_ZSTD, ZSTD_ErrorCode, ZSTD_getErrorCode, (size_t r), (r))
VX_TRAMPOLINE(VX_LIB_ZSTD, ZSTD_CCtx *, ZSTD_createCCtx, (void), ())
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_freeCCtx, (ZSTD_CCtx *c), (c))
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_CCtx_setParameter, (ZSTD_CCtx *c, ZSTD_cParameter p, int v), (c, p, v))
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_CCtx_setPledgedSrcSize, (ZSTD_CCtx *c, unsigned long long n), (c, n))
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_compressStream2,
              (ZSTD_CCtx *c, ZSTD_outBuffer *out, ZSTD_inBuffer *in, ZSTD_EndDirective end), (c, out, in, end))
VX_TRAMPOLINE(VX_LIB_ZSTD, ZSTD_DCtx *, ZSTD_createDCtx, (void), ())
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_freeDCtx, (ZSTD_DCtx *d), (d))
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_DCtx_setParameter, (ZSTD_DCtx *d, ZSTD_dParameter p, int v), (d, p, v))
VX_TRAMPOLINE(VX_LIB_ZSTD, size_t, ZSTD_decompressStream, (ZSTD_DStream *d, ZSTD_outBuffer *out, ZSTD_inBuffer *in),
              (d, out, in))
