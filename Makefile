# vindex — build, test, benchmark. `make help` lists the targets.
#
# Layers (arrows point to what a layer may include):
#   cli/  -> include/            the command uses only the public API
#   src/  -> include/, format/   math and queries see bytes through format/'s headers
#   format/ -> include/vindex.h  bytes on disk; libc + cJSON/xxHash/libcrypto/libzstd only
#   tests/ -> anything

CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Wno-unused-parameter
CPPFLAGS += -Iinclude -D_GNU_SOURCE
ALL_CFLAGS = -std=c11 $(WARN) -fPIC -pthread $(CFLAGS)
# The library and the command link only what every process uses; libcrypto, OpenBLAS,
# LAPACKE, libzstd and libm are loaded on first use (format/lazylib.h). Tests and tools
# link them directly.
LDLIBS  := -lcjson -lxxhash -lutf8proc -lpthread -ldl
LAZY_LIBS := -lcrypto -llapacke -lopenblas -lzstd -lm
# The command links xxHash and utf8proc from their archives when the -dev packages ship
# them: each shared library costs every process ~0.15 ms to map and relocate, and a query
# process is a few milliseconds (doc/benchmarks.md, "Query processes").
# Expanded at link time, not when make reads this file: `make deps demo` installs the -dev
# packages after the Makefile is read.
comma := ,
CLI_STATIC = $(foreach l,xxhash utf8proc,$(if $(shell test -f "$$($(CC) -print-file-name=lib$(l).a)" && echo y),-l$(l)))
CLI_LDLIBS = $(if $(CLI_STATIC),-Wl$(comma)-Bstatic $(CLI_STATIC) -Wl$(comma)-Bdynamic) $(filter-out $(CLI_STATIC),$(LDLIBS))

BUILD   ?= build
FORMAT_SRC := $(wildcard format/*.c)
SRC_SRC    := $(wildcard src/*.c)
CLI_SRC    := $(wildcard cli/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(FORMAT_SRC) $(SRC_SRC))
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(patsubst tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

.PHONY: all lib test bench bench-extract asan fuzz clean help tools deps demo man install uninstall
all: $(BUILD)/libvindex.a $(BUILD)/libvindex.so $(BUILD)/vindex

DEPS := build-essential clang libclang-rt-14-dev libcjson-dev libxxhash-dev libopenblas-dev liblapacke-dev \
        libzstd-dev libssl-dev python3-numpy python3-scipy chromium pkg-config man-db zstd tar
DEPS += libutf8proc-dev   # Unicode categories, case and normalization for the tokenizer (format/unicode.c)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= /tmp/tiny-llama.vindex
DEMO_PAIR ?= /tmp/tiny-qwen3.vindex
DEMO_REPORT ?= /tmp/tiny-llama-report.html
DEMO_PAIR_REPORT ?= /tmp/tiny-llama-vs-tiny-qwen3-report.html

help:
	@echo "make deps       install the Debian packages vindex needs (apt-get) and the tests' npm reference tokenizer"
	@echo "make demo       build, extract the bundled tiny-llama checkpoint, show info and a query, write HTML reports"
	@echo "make            build libvindex.a, libvindex.so and build/vindex"
	@echo "make test       run every test (C unit tests, CLI tests, numpy differential tests, fuzz corpus replay)"
	@echo "make bench      query-engine benchmark on a synthetic Qwen3-8B-shaped vindex"
	@echo "make bench-extract  extraction benchmark on synthetic real-shape checkpoints"
	@echo "make asan       the whole test suite under AddressSanitizer + UBSan"
	@echo "make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60) with clang"
	@echo "make install    install under PREFIX (default /usr/local) and DESTDIR: binary, libvindex.so/.a,"
	@echo "                headers, man pages vindex(1)/(3), vindex.pc, the Python package"
	@echo "make uninstall  remove exactly what make install wrote (its manifest)"
	@echo "make man        build/vindex.1 and build/vindex.3"
	@echo "make clean      remove $(BUILD)/"

# Include paths enforce the arrows: cli/ sees only include/, format/ sees itself and
# include/, src/ sees format/ too.
$(BUILD)/format/%.o: format/%.c $(wildcard include/*.h format/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iformat $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/src/%.o: src/%.c $(wildcard include/*.h format/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iformat -Isrc $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/cli/%.o: cli/%.c $(wildcard include/*.h cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# Kernels compiled for several ISAs and chosen at run time.
$(BUILD)/src/kern_avx2.o: ALL_CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/src/kern_avx512.o: ALL_CFLAGS += -mavx512f -mavx512bw -mavx512vl -mfma -mf16c
$(BUILD)/src/kern_syrk.o: ALL_CFLAGS += -mavx512f -mfma -mf16c
$(BUILD)/src/kern_bf16.o: ALL_CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mfma
$(BUILD)/src/kern_bsyrk.o: ALL_CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mfma
$(BUILD)/src/kern_sha.o: ALL_CFLAGS += -msha -msse4.1 -mssse3
# the two builds of the bulge chase give the same bits: no fused products (src/band.h)
$(BUILD)/src/band.o: ALL_CFLAGS += -O3 -ffp-contract=off -Wno-psabi
$(BUILD)/src/kern_band.o: ALL_CFLAGS += -O3 -ffp-contract=off -mavx512f

$(BUILD)/libvindex.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library carries its soname (libvindex.so.$(SOVERSION)); `make install` adds the
# versioned file name and the links.
VERSION   := $(shell sed -n 's/^\#define VX_VERSION_STRING "\(.*\)"/\1/p' include/vindex.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
$(BUILD)/libvindex.so: $(LIB_OBJ)
	$(CC) $(LDFLAGS) -shared -pthread -Wl,-soname,libvindex.so.$(SOVERSION) -o $@ $^ $(LDLIBS)

# Manual pages, generated from each command's --help and the public headers (tools/mkman.py).
PY ?= /usr/bin/python3
man: $(BUILD)/vindex.1 $(BUILD)/vindex.3
$(BUILD)/vindex.1: $(BUILD)/vindex man/vindex.1.in tools/mkman.py
	$(PY) tools/mkman.py 1 $(BUILD)/vindex man/vindex.1.in $@
$(BUILD)/vindex.3: $(wildcard include/*.h) man/vindex.3.in tools/mkman.py
	@mkdir -p $(BUILD)
	$(PY) tools/mkman.py 3 include man/vindex.3.in $@

# make install / uninstall: PREFIX and DESTDIR honoured, every directory overridable;
# tools/install.sh keeps the manifest uninstall reads. The Python package goes where
# Debian's python3 looks: dist-packages of the running version under /usr/local, the
# version-independent one under /usr.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR      ?= $(PREFIX)/share/vindex
PYVER         = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYTHONDIR    ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYVER)/dist-packages)
INSTALL_ENV   = BUILD=$(BUILD) PREFIX=$(PREFIX) BINDIR=$(BINDIR) LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR) \
                MANDIR=$(MANDIR) PKGCONFIGDIR=$(PKGCONFIGDIR) DATADIR=$(DATADIR) PYTHONDIR=$(PYTHONDIR) \
                VERSION=$(VERSION) SOVERSION=$(SOVERSION) LIBS_PRIVATE="$(LDLIBS)" DESTDIR=$(DESTDIR)
install: all man
	@$(INSTALL_ENV) sh tools/install.sh install
uninstall:
	@$(INSTALL_ENV) sh tools/install.sh uninstall

$(BUILD)/vindex: $(CLI_OBJ) $(BUILD)/libvindex.a
	$(CC) $(LDFLAGS) -pthread -o $@ $(CLI_OBJ) $(BUILD)/libvindex.a $(CLI_LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libvindex.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iformat -Isrc $(ALL_CFLAGS) -Wno-missing-prototypes $(LDFLAGS) $< -o $@ $(BUILD)/libvindex.a $(LDLIBS) $(LAZY_LIBS)

$(BUILD)/tools/%: tools/%.c $(wildcard tools/*.h) src/clock.h $(BUILD)/libvindex.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iformat -Isrc $(ALL_CFLAGS) -Wno-missing-prototypes $(LDFLAGS) $< -o $@ $(BUILD)/libvindex.a $(LDLIBS) $(LAZY_LIBS)

tools: $(TOOL_BIN)

# The replay driver #includes the fuzz targets.
$(BUILD)/tests/test_fuzz_replay: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEPS)
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm   # only when absent: a nodesource nodejs bundles npm and conflicts with Debian's
	sh tests/tokref/install.sh .deps/tokref   # the reference tokenizer for tests/t_tokenize.py (npm, pinned)

demo: all
	$(BUILD)/vindex extract tests/fixtures/tiny-llama -o $(DEMO_OUT) --force
	$(BUILD)/vindex info $(DEMO_OUT)
	$(BUILD)/vindex verify $(DEMO_OUT)
	$(BUILD)/vindex score $(DEMO_OUT) " Paris" --top 5
	$(BUILD)/vindex extract tests/fixtures/tiny-qwen3 -o $(DEMO_PAIR) --force
	$(BUILD)/vindex report $(DEMO_OUT) -o $(DEMO_REPORT)
	$(BUILD)/vindex report $(DEMO_OUT) $(DEMO_PAIR) -o $(DEMO_PAIR_REPORT)
	@echo "reports: $(DEMO_REPORT) and $(DEMO_PAIR_REPORT) (open them in a browser)"

test: all $(TEST_BIN) $(TOOL_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

bench: all $(TOOL_BIN)
	@BUILD=$(BUILD) sh tools/bench.sh

bench-extract: all $(TOOL_BIN)
	@BUILD=$(BUILD) sh tools/bench-extract.sh

asan:
	$(MAKE) BUILD=build-asan CC=clang OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS=-fsanitize=address,undefined test

fuzz:
	@BUILD=build-fuzz sh tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz
