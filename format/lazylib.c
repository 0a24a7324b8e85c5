/*
 * lazylib.c — dlopen once per library, dlsym per function (see lazylib.h for why).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "lazylib.h"

static const char *const lib_names[VX_LIB_COUNT] = { "libcrypto.so.3", "libopenblas.so.0", "liblapacke.so.3", "libzstd.so.1",
                                                     "libm.so.6" };
static void *libs[VX_LIB_COUNT];
static pthread_once_t once[VX_LIB_COUNT] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
                                                 PTHREAD_ONCE_INIT };

static void fatal(const char *what) {
    char msg[600];
    int n = snprintf(msg, sizeof msg, "libvindex: cannot load a required library: %s\n", what ? what : "(unknown)");
    if (n > 0) (void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    _exit(127);
}

static void open_lib(int i) {
    if (!(libs[i] = dlopen(lib_names[i], RTLD_NOW | RTLD_LOCAL))) fatal(dlerror());
}
static void open_crypto(void) { open_lib(VX_LIB_CRYPTO); }
static void open_blas(void) { open_lib(VX_LIB_BLAS); }
static void open_lapacke(void) { open_lib(VX_LIB_LAPACKE); }
static void open_zstd(void) { open_lib(VX_LIB_ZSTD); }
static void open_m(void) { open_lib(VX_LIB_M); }
static void (*const openers[VX_LIB_COUNT])(void) = { open_crypto, open_blas, open_lapacke, open_zstd, open_m };

void *vx_lazy_sym(int lib, const char *name) {
    pthread_once(&once[lib], openers[lib]);
    void *p = dlsym(libs[lib], name);
    if (!p) fatal(dlerror());
    return p;
}

int vx_lazy_loaded(int lib) { return lib >= 0 && lib < VX_LIB_COUNT && __atomic_load_n(&libs[lib], __ATOMIC_ACQUIRE) != NULL; }
