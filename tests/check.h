/*
 * check.h — the test harness: CHECK(cond, fmt, ...) counts and reports; every test
 * program ends with CHECK_DONE(), which prints "N passed, N failed" and sets the exit code.
 */
#ifndef VX_TEST_CHECK_H
#define VX_TEST_CHECK_H
#include <stdio.h>
static int check_pass_, check_fail_;
#define CHECK(cond, ...) do { if (cond) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_DONE() (printf("%d passed, %d failed\n", check_pass_, check_fail_), check_fail_ ? 1 : 0)
#endif
