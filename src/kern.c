/*
 * kern.c — the scalar kernels (any CPU) and the run-time choice of kernel set.
 * The SIMD versions live in kern_avx2.c and kern_avx512.c, compiled with their own
 * -m flags; nothing here may use those instructions, so this file only calls them after
 * __builtin_cpu_supports says the CPU has them. See kern.h for the canonical order that
 * makes every version produce the same bits.
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <unistd.h>

#include "common.h"
#include "kern.h"

/* fmaf() is exactly rounded whether libm uses an FMA instruction or not, so the scalar
 * lanes round exactly as the vector lanes do. */
static void row_dot_ss(float *dot, float *ss, const uint16_t *x, size_t H, const float *q) {
    float d[VX_LANES] = { 0 }, s[VX_LANES] = { 0 };
    for (size_t b = 0; b < H; b += VX_LANES)
        for (size_t j = 0; j < VX_LANES; j++) {
            size_t i = b + j;
            float v = i < H ? vx_f16_to_f32(x[i]) : 0.0f;   /* the zero padding of kern.h */
            d[j] = fmaf(v, q[i], d[j]);
            s[j] = fmaf(v, v, s[j]);
        }
    *dot = vx_kern_reduce16(d);
    *ss = vx_kern_reduce16(s);
}

void vx_dot_ss_scalar(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q) {
    for (size_t r = 0; r < n; r++) row_dot_ss(&dot[r], &ss[r], X + r * H, H, q);
}

void vx_cvt_ss_scalar(float *Y, float *ss, const uint16_t *X, size_t n, size_t H) {
    for (size_t r = 0; r < n; r++) {
        const uint16_t *x = X + r * H;
        float *y = Y + r * H, s[VX_LANES] = { 0 };
        for (size_t b = 0; b < H; b += VX_LANES)
            for (size_t j = 0; j < VX_LANES; j++) {
                size_t i = b + j;
                float v = 0.0f;
                if (i < H) y[i] = v = vx_f16_to_f32(x[i]);
                s[j] = fmaf(v, v, s[j]);
            }
        ss[r] = vx_kern_reduce16(s);
    }
}

static const vx_kern k_scalar = { "scalar", vx_dot_ss_scalar, vx_cvt_ss_scalar };
#if defined(__x86_64__) || defined(__i386__)
static const vx_kern k_avx2 = { "avx2", vx_dot_ss_avx2, vx_cvt_ss_avx2 };
static const vx_kern k_avx512 = { "avx512", vx_dot_ss_avx512, vx_cvt_ss_avx512 };

/* F16C is read from CPUID.1:ECX bit 29: clang's __builtin_cpu_supports has no "f16c". */
int vx_cpu_avx2(void) {
    unsigned eax, ebx, ecx = 0, edx;
    int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
    __builtin_cpu_init();
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int has_avx2(void) { return vx_cpu_avx2(); }
static int has_avx512(void) {
    __builtin_cpu_init();
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}
int vx_cpu_avx512(void) { return has_avx512(); }
int vx_cpu_sha(void) {
    unsigned a, b, c = 0, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
/* AVX512_BF16 is CPUID.(EAX=7,ECX=1):EAX bit 5 (not every compiler's
 * __builtin_cpu_supports knows it). */
int vx_cpu_bf16(void) {
    unsigned eax = 0, ebx, ecx, edx;
    if (!has_avx512() || !__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return 0;
    return (eax >> 5) & 1u;
}
#else
int vx_cpu_avx2(void) { return 0; }
int vx_cpu_sha(void) { return 0; }
int vx_cpu_avx512(void) { return 0; }
int vx_cpu_bf16(void) { return 0; }
#endif

size_t vx_bf16_a_words(size_t M, size_t K) { return (M + VX_BF16_MR - 1) / VX_BF16_MR * VX_BF16_MR * ((K + 1) / 2); }
size_t vx_bf16_b_words(size_t N, size_t K) { return (N + VX_BF16_NR - 1) / VX_BF16_NR * VX_BF16_NR * ((K + 1) / 2); }

void vx_bf16_pack_a_row(uint32_t *Ap, size_t r, const float *x, size_t K, double *err2, double *norm2) {
    size_t kp = (K + 1) / 2, kc2 = VX_BF16_KC / 2, i = r % VX_BF16_MR;
    uint32_t *panel = Ap + (r / VX_BF16_MR) * kp * VX_BF16_MR;
    double e = 0, n = 0;
    for (size_t k = 0; k < K; k += 2) {
        size_t kk = k / 2, kb = kk / kc2, kc = kp - kb * kc2 < kc2 ? kp - kb * kc2 : kc2;
        uint32_t *p = panel + kb * VX_BF16_MR * kc2 + i * kc + kk - kb * kc2;
        uint16_t lo = vx_bf16_bits(x[k]), hi = k + 1 < K ? vx_bf16_bits(x[k + 1]) : 0;
        double l = vx_bf16_float(lo), h = vx_bf16_float(hi), dl = (double)x[k] - l;
        double dh = k + 1 < K ? (double)x[k + 1] - h : 0.0;
        e += dl * dl + dh * dh;
        n += l * l + h * h;
        *p = (uint32_t)lo | (uint32_t)hi << 16;
    }
    *err2 = e;
    *norm2 = n;
}

void vx_bf16_pack_bt(uint32_t *Bp, const float *Bt, size_t N, size_t K) {
    size_t kp = (K + 1) / 2, pn = (N + VX_BF16_NR - 1) / VX_BF16_NR;
    for (size_t jp = 0; jp < pn; jp++)
        for (size_t j = 0; j < VX_BF16_NR; j++) {
            size_t n = jp * VX_BF16_NR + j;
            uint32_t *p = Bp + jp * kp * VX_BF16_NR + j;
            for (size_t kk = 0; kk < kp; kk++, p += VX_BF16_NR) {
                uint16_t lo = 0, hi = 0;
                if (n < N) {
                    lo = vx_bf16_bits(Bt[n * K + 2 * kk]);
                    if (2 * kk + 1 < K) hi = vx_bf16_bits(Bt[n * K + 2 * kk + 1]);
                }
                *p = (uint32_t)lo | (uint32_t)hi << 16;
            }
        }
}

static const vx_kern *by_name(const char *name) {
    if (!strcmp(name, "scalar")) return &k_scalar;
#if defined(__x86_64__) || defined(__i386__)
    if (!strcmp(name, "avx2")) return has_avx2() ? &k_avx2 : NULL;
    if (!strcmp(name, "avx512")) return has_avx512() ? &k_avx512 : NULL;
    if (!strcmp(name, "auto")) return has_avx512() ? &k_avx512 : has_avx2() ? &k_avx2 : &k_scalar;
#else
    if (!strcmp(name, "auto")) return &k_scalar;
#endif
    return NULL;
}

/* Chosen once; a race between two first calls is harmless (both choose the same). */
static const vx_kern *active;

const vx_kern *vx_kern_active(void) {
    const vx_kern *k = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (k) return k;
    const char *env = getenv("VINDEX_KERNEL");
    k = env && *env ? by_name(env) : NULL;
    if (!k) k = by_name("auto");
    __atomic_store_n(&active, k, __ATOMIC_RELEASE);
    return k;
}

int vx_kern_select(const char *name) {
    const vx_kern *k = by_name(name);
    if (!k) return -1;
    __atomic_store_n(&active, k, __ATOMIC_RELEASE);
    return 0;
}

int vx_kern_threads(void) {
    const char *env = getenv("VINDEX_THREADS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= VX_THREADS_MAX) return (int)v;
    }
    return vx_threads_cap(sysconf(_SC_NPROCESSORS_ONLN));
}

/* A new thread starts on a CPU other than its creator's, then may run anywhere. */
typedef struct spawn {
    void *(*fn)(void *);
    void *arg;
    int narrowed;      /* created allowed only away from the creator's CPU: widen back */
    cpu_set_t allowed; /* the creator's CPU set */
} spawn;

static void *spawned(void *p) {
    spawn s = *(spawn *)p;
    free(p);
    if (s.narrowed) sched_setaffinity(0, sizeof s.allowed, &s.allowed);
    return s.fn(s.arg);
}

int vx_thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
    spawn *s = malloc(sizeof *s);
    if (!s) return pthread_create(t, NULL, fn, arg);
    s->fn = fn;
    s->arg = arg;
    s->narrowed = 0;
    pthread_attr_t attr;
    cpu_set_t away;
    int cpu = sched_getcpu(), with_attr = 0;
    if (cpu >= 0 && cpu < CPU_SETSIZE && sched_getaffinity(0, sizeof s->allowed, &s->allowed) == 0 &&
        CPU_ISSET(cpu, &s->allowed) && CPU_COUNT(&s->allowed) > 1 && pthread_attr_init(&attr) == 0) {
        with_attr = 1;
        away = s->allowed;
        CPU_CLR(cpu, &away);
        s->narrowed = pthread_attr_setaffinity_np(&attr, sizeof away, &away) == 0;
    }
    int rc = pthread_create(t, s->narrowed ? &attr : NULL, spawned, s);
    if (rc && s->narrowed) { /* a CPU set the system refuses: start it anywhere */
        s->narrowed = 0;
        rc = pthread_create(t, NULL, spawned, s);
    }
    if (with_attr) pthread_attr_destroy(&attr);
    if (rc) free(s);
    return rc;
}

/* Run fn(jobs[i]) for i < T: T-1 new threads and the caller. A thread that cannot be
 * created runs its job inline, so the result never depends on thread creation; so do the
 * jobs past VX_THREADS_MAX. */
void vx_run_parallel(void *(*fn)(void *), void *jobs, size_t job_size, int T) {
    pthread_t tid[VX_THREADS_MAX];
    int made[VX_THREADS_MAX] = { 0 };
    for (int i = 1; i < T && i < VX_THREADS_MAX; i++) made[i] = vx_thread_start(&tid[i], fn, (char *)jobs + (size_t)i * job_size) == 0;
    fn(jobs);
    for (int i = 1; i < T; i++) {
        if (i < VX_THREADS_MAX && made[i]) pthread_join(tid[i], NULL);
        else fn((char *)jobs + (size_t)i * job_size);
    }
}

size_t vx_kern_env(const char *name, size_t def) {
    const char *env = getenv(name);
    if (!env || !*env) return def;
    char *end;
    unsigned long long v = strtoull(env, &end, 10);
    return *end ? def : (size_t)v;
}
