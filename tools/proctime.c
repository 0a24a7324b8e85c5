/*
 * proctime — time whole processes the way a user runs them, alternating the programs compared.
 *
 *   proctime [-n REPS] CMD... [::: CMD...]...
 *
 * Runs the commands in turn (A B C A B C ...) REPS times (default 5), each with stdout and
 * stderr sent to /dev/null, and prints one line per command:
 *   cmd=K best_ms=... median_ms=... maxrss_kb=... status=...
 * Wall time is taken with CLOCK_MONOTONIC around fork/exec/wait4, so the measurement costs
 * one fork, not a shell, `date` and /usr/bin/time per run (~11 ms on this VM); peak RSS is
 * wait4's ru_maxrss of the child. Exit status: 0, or 1 when any run of any command failed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include "clock.h"
#include <unistd.h>

#define MAX_CMDS 8
#define MAX_REPS 1000

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One run of argv; wall ms into *ms, peak RSS into *rss; returns the exit status (or 128+signal). */
static int run(char **argv, double *ms, long *rss) {
    double t0 = vx_wall_ms();
    pid_t pid = fork();
    if (pid < 0) { perror("proctime: fork"); return 127; }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) { perror("proctime: wait4"); return 127; }
    *ms = vx_wall_ms() - t0;
    *rss = ru.ru_maxrss;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    int reps = 5, i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "-n")) { reps = atoi(argv[i + 1]); i += 2; }
    if (i >= argc || reps < 1 || reps > MAX_REPS || !strcmp(argv[i], "--help")) {
        fprintf(stderr, "usage: proctime [-n REPS] CMD... [::: CMD...]...   (REPS 1..%d, at most %d commands)\n", MAX_REPS, MAX_CMDS);
        return 2;
    }
    char **cmd[MAX_CMDS];
    int ncmd = 0;
    cmd[ncmd++] = &argv[i];
    for (; i < argc; i++) {
        if (strcmp(argv[i], ":::")) continue;
        argv[i] = NULL;
        if (i + 1 >= argc || ncmd == MAX_CMDS) { fprintf(stderr, "proctime: empty command or more than %d\n", MAX_CMDS); return 2; }
        cmd[ncmd++] = &argv[i + 1];
    }
    static double ms[MAX_CMDS][MAX_REPS];
    long rss[MAX_CMDS] = { 0 };
    int status[MAX_CMDS] = { 0 }, bad = 0;
    for (int r = 0; r < reps; r++)
        for (int c = 0; c < ncmd; c++) {
            long m = 0;
            int st = run(cmd[c], &ms[c][r], &m);
            if (st) { status[c] = st; bad = 1; }
            if (m > rss[c]) rss[c] = m;
        }
    for (int c = 0; c < ncmd; c++) {
        qsort(ms[c], (size_t)reps, sizeof ms[c][0], cmp_double);
        double med = reps % 2 ? ms[c][reps / 2] : (ms[c][reps / 2 - 1] + ms[c][reps / 2]) / 2;
        printf("cmd=%d best_ms=%.2f median_ms=%.2f maxrss_kb=%ld status=%d\n", c, ms[c][0], med, rss[c], status[c]);
    }
    return bad;
}
