/*
 * clock.h — seconds of wall time (CLOCK_MONOTONIC) and of the process's CPU time, every
 * thread's (CLOCK_PROCESS_CPUTIME_ID): the one timer of the phase reports (compare, stats,
 * plan) and of the tools' benchmarks. CPU time near the thread count times the wall time
 * says every core was busy.
 */
#ifndef VX_CLOCK_H
#define VX_CLOCK_H

#include <time.h>

static inline double vx_clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static inline double vx_wall_s(void) { return vx_clock_s(CLOCK_MONOTONIC); }
static inline double vx_cpu_s(void) { return vx_clock_s(CLOCK_PROCESS_CPUTIME_ID); }
static inline double vx_wall_ms(void) { return 1e3 * vx_clock_s(CLOCK_MONOTONIC); }

#endif
