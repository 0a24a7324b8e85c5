/*
 * lazylib.h — shared libraries loaded on first use, and the trampolines that call into
 * them (format/lazylib.c, format/crypto_lazy.c, format/zstd_lazy.c, format/libm_lazy.c,
 * src/blas_lazy.c).
 *
 * Why: a query process that never hashes, calls BLAS, reads an archive or takes a
 * logarithm should not pay for loading libcrypto, OpenBLAS, LAPACKE, libzstd and libm
 * (relocations, OpenBLAS's constructor starting its thread pool) — together more than
 * the query itself. So libvindex is not linked against
 * them; each function it calls is defined once in a *_lazy.c file with the header's own
 * prototype (a mismatch does not compile) and forwards to the real one, resolved by
 * dlopen/dlsym the first time it runs. Being loaded late also lets the CLI choose
 * OpenBLAS's kernels (OPENBLAS_CORETYPE) in its own environment instead of re-executing.
 *
 * Trampolines are hidden: inside libvindex.so they bind to these definitions, and no other
 * library in the process (numpy's BLAS, a host program's libcrypto) is interposed on or by
 * them. Calling a new function of these libraries means adding its trampoline (until then
 * the link fails with "undefined reference").
 *
 * A library that cannot be loaded is what a missing DT_NEEDED entry would be at start-up:
 * they are hard dependencies (Makefile DEPS), so the process reports dlerror() and exits
 * with status 127 as the dynamic loader does — the one exit in library code, standing in
 * for the loader's own refusal to start the program.
 */
#ifndef VX_FORMAT_LAZYLIB_H
#define VX_FORMAT_LAZYLIB_H

enum { VX_LIB_CRYPTO, VX_LIB_BLAS, VX_LIB_LAPACKE, VX_LIB_ZSTD, VX_LIB_M, VX_LIB_COUNT };

/* Address of `name` in library `lib`, loading it (once per process) first. */
void *vx_lazy_sym(int lib, const char *name);

/* 1 once library `lib` is loaded in this process (for tests and the benchmark). */
int vx_lazy_loaded(int lib);

/* The real `name` of library `lib`, resolved once. Threads that race to resolve it store
 * the same pointer, so a race costs one extra dlsym. */
#define VX_LAZY_FN(lib, name)                                                                                       \
    static __typeof__(&name) fn_;                                                                                    \
    __typeof__(&name) f_ = __atomic_load_n(&fn_, __ATOMIC_ACQUIRE);                                                 \
    if (!f_) {                                                                                                       \
        f_ = (__typeof__(&name))vx_lazy_sym(lib, #name);                                                            \
        __atomic_store_n(&fn_, f_, __ATOMIC_RELEASE);                                                               \
    }
/* Defines `ret name params` forwarding to the real `name` of library `lib`; the _VOID form
 * for functions returning void. */
#define VX_TRAMPOLINE(lib, ret, name, params, args)                                                                 \
    __attribute__((visibility("hidden"))) ret name params { VX_LAZY_FN(lib, name) return f_ args; }
#define VX_TRAMPOLINE_VOID(lib, name, params, args)                                                                 \
    __attribute__((visibility("hidden"))) void name params { VX_LAZY_FN(lib, name) f_ args; }

#endif
