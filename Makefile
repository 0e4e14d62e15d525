# SPDX-License-Identifier: GPL-2.0
#
# tinydsm — top-level Makefile.
#
#   make            tinydsm.ko for the newest installed Debian kernel + user space
#   make check      install what is missing, checkpatch, build for 6.1 and
#                   6.12, the host checks (libtinydsm-test, report-test,
#                   x86-mov-test, model-check, soak-selftest, dkms-check),
#                   then the suite in the QEMU lab (selftests/run.sh): 1-
#                   and 2-node and wire tests on both kernels; the 3-node
#                   tests, the raw RDMA path and a small demo on the newest;
#                   the 2- and 3-node and wire tests on the lab's debug
#                   kernel (KASAN, lockdep, kmemleak), which it builds once
#                   per machine, in the background while the other suites run
#   make demo       install what is missing, build, and run the demo on 2 and
#                   3 QEMU guests (tools/demo/README.md): access costs, first
#                   touch of remote pages, lazy and eager repopulation after
#                   a migration, against the raw RDMA baseline; prints a
#                   table, writes CSV, JSON and plots in results/demo-<time>/
#   make bench      the remote-memory, migration, access-site, cache,
#                   metadata and synchronisation benchmarks and the
#                   allocator study on virtual nodes (tools/bench/README.md)
#   make soak       a long run on 3 nodes with injected faults (not in check)
#   make style      checkpatch.pl --strict over kmod/ and uapi/
#   make deps       install the Debian packages the tree needs (root)
#   make install    the module, the tools, the daemon and their files (root);
#                   make install-dkms: the module's sources for DKMS instead
#
# KVER=<version> or KDIR=<kernel build dir> picks another kernel. The module is
# built out of tree in build/<KVER>/ (one tree per kernel, so that 6.1 and
# 6.12 builds coexist), always with W=1, and warnings are errors.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build

# The one version of tinydsm, in the file VERSION: the module's
# MODULE_VERSION (Kbuild reads the file too), tinydsmctl's and tinydsmd's
# --version (-DTINYDSM_VERSION), the DKMS package (install-dkms writes it
# into the dkms.conf it installs) and the man pages (install-user writes it
# into their .TH line).
TDSM_VERSION := $(shell cat $(TOP)/VERSION)
ifeq ($(TDSM_VERSION),)
$(error $(TOP)/VERSION is missing or empty)
endif

KVER ?= $(shell $(TOP)/tools/kvers.sh newest 2>/dev/null)
KDIR ?= /lib/modules/$(KVER)/build
KOBJ := $(BUILD)/$(KVER)
KO := $(KOBJ)/tinydsm.ko

# The kernels `make check` runs on: the newest installed 6.1 and 6.12.
CHECK_KVERS = $(shell $(TOP)/tools/kvers.sh series 6.1.) \
	      $(shell $(TOP)/tools/kvers.sh series 6.12.)

# The kernel's own kselftest harness and checkpatch.pl, from Debian's
# linux-source-6.1 package (extracted, never copied into the tree). 6.1's
# harness, the one the tests are written for: linux-source-6.12, which the
# lab's debug kernel is built from, has another.
KSRC_TAR ?= $(wildcard /usr/src/linux-source-6.1.tar.xz)
KSRC := $(BUILD)/linux-source
KSRC_FILES := tools/testing/selftests/kselftest_harness.h \
	      tools/testing/selftests/kselftest.h \
	      scripts/checkpatch.pl scripts/spelling.txt \
	      scripts/const_structs.checkpatch

CC ?= gcc
USER_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I$(TOP)/uapi \
	       -DTINYDSM_VERSION='"$(TDSM_VERSION)"'
# -isystem: the harness is the kernel's code, not ours; -Wextra would flag it.
TEST_CFLAGS := $(USER_CFLAGS) -isystem $(KSRC)/tools/testing/selftests
# The lab tests, which suite runs which (selftests/tinydsm/Makefile): all
# built by make user, which writes the list for the runners too.
include $(TOP)/selftests/tinydsm/Makefile
TESTS := $(TDSM_TESTS)
TEST_BINS := $(addprefix $(BUILD)/selftests/,$(TESTS)) $(BUILD)/selftests/tests.list
BENCHES := remote_bench migrate_bench access_bench cache_bench meta_bench sync_bench \
	   alloc_bench
BENCH_BINS := $(addprefix $(BUILD)/tools/,$(BENCHES))
# The helpers the benchmarks and seed_demo share (rules: after libtinydsm).
BENCH_COMMON := $(TOP)/tools/bench/common.c
BENCH_COMMON_DEPS := $(BENCH_COMMON) $(TOP)/tools/bench/common.h
BENCH_CFLAGS = $(USER_CFLAGS) -I$(LIBTDSM_DIR) -I$(TOP)/tools/bench

KMOD_SRC := $(wildcard $(TOP)/kmod/*.c $(TOP)/kmod/*.h)
UAPI_HDR := $(TOP)/uapi/linux/tinydsm.h

.PHONY: all module user deps check check-run demo demo-run bench bench-run style \
	install install-user install-module clean

all: module user

module: $(KO)

$(KO): $(KMOD_SRC) $(UAPI_HDR) $(TOP)/Kbuild $(TOP)/VERSION
	@test -n "$(KVER)" -a -f "$(KDIR)/Makefile" || { \
		echo "no kernel build tree for KVER='$(KVER)' (KDIR=$(KDIR));" \
		     "run 'make deps' or set KVER/KDIR" >&2; exit 1; }
	@mkdir -p $(KOBJ)/kmod
	@ln -sfn $(TOP)/Kbuild $(KOBJ)/Kbuild
	@ln -sfn $(TOP)/VERSION $(KOBJ)/VERSION
	@ln -sfn $(TOP)/uapi $(KOBJ)/uapi
	@for f in $(KMOD_SRC); do ln -sf $$f $(KOBJ)/kmod/; done
	$(MAKE) -C $(KDIR) M=$(KOBJ) W=1 KCFLAGS=-Werror modules

user: $(TEST_BINS) $(BENCH_BINS)

$(KSRC)/.extracted:
	@test -n "$(KSRC_TAR)" || { echo "linux-source-*.tar.xz not found" \
		"in /usr/src: run 'make deps' (package linux-source)" >&2; exit 1; }
	@mkdir -p $(KSRC)
	tar -xJf $(KSRC_TAR) -C $(KSRC) --strip-components=1 \
		$(addprefix $(basename $(basename $(notdir $(KSRC_TAR))))/,$(KSRC_FILES))
	@touch $@

$(BUILD)/selftests/%: $(TOP)/selftests/tinydsm/%.c $(UAPI_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $<

$(BUILD)/selftests/tests.list: $(TOP)/selftests/tinydsm/Makefile
	@mkdir -p $(dir $@)
	@{ $(TDSM_TESTS_LIST_CMD) } >$@.tmp
	@mv $@.tmp $@

# The coherence tests, one program per node count, share coherence.h.
$(addprefix $(BUILD)/selftests/,coherence_pair_test coherence_trio_test): \
		$(TOP)/selftests/tinydsm/coherence.h

# coherence_pair_test pins a region page with ibv_reg_mr() (libibverbs).
$(BUILD)/selftests/coherence_pair_test: $(TOP)/selftests/tinydsm/coherence_pair_test.c \
		$(UAPI_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< -pthread -libverbs

# The family's generic netlink client (tools/lib/nl), on libnl-genl-3,
# built once into $(BUILD)/lib/libtdsm_nl.a. A program that talks to the
# module over generic netlink builds with $(NL_CFLAGS), lists $(TDSM_NL)
# as a prerequisite and links $(TDSM_NL) $(NL_LIBS).
NL_CFLAGS = -I$(TOP)/tools/lib/nl $(shell pkg-config --cflags libnl-genl-3.0)
NL_LIBS = $(shell pkg-config --libs libnl-genl-3.0)
TDSM_NL := $(BUILD)/lib/libtdsm_nl.a
TDSM_NL_HDR := $(TOP)/tools/lib/nl/tdsm_nl.h $(UAPI_HDR)

$(BUILD)/lib/tdsm_nl.o: $(TOP)/tools/lib/nl/tdsm_nl.c $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(NL_CFLAGS) -c -o $@ $<

$(TDSM_NL): $(BUILD)/lib/tdsm_nl.o
	rm -f $@
	$(AR) rcs $@ $^

# The cluster key file (tools/lib/keyfile), with libsodium: tinydsmctl,
# tinydsmd and the tests that need the key build keyfile.c in. A program
# links it with: $(CC) ... $(KEYFILE_CFLAGS) ... $(KEYFILE_SRC) $(KEYFILE_LIBS)
# (and lists $(KEYFILE_DEPS) as prerequisites).
SODIUM_CFLAGS = $(shell pkg-config --cflags libsodium)
SODIUM_LIBS = $(shell pkg-config --libs libsodium)
KEYFILE_DIR := $(TOP)/tools/lib/keyfile
KEYFILE_SRC := $(KEYFILE_DIR)/keyfile.c
KEYFILE_DEPS := $(KEYFILE_SRC) $(KEYFILE_DIR)/keyfile.h $(UAPI_HDR)
KEYFILE_CFLAGS = -I$(KEYFILE_DIR) $(SODIUM_CFLAGS)
KEYFILE_LIBS = $(SODIUM_LIBS)

# tinydsmd's line protocol (tools/lib/ctl): the parser of its lines, for
# the daemon and tinydsmctl, and the client of its control socket, for
# tinydsmctl and the tests; built once into $(BUILD)/lib/libtdd_ctl.a. A
# program builds with $(TDD_CTL_CFLAGS), lists $(TDD_CTL) $(TDD_CTL_HDR) as
# prerequisites and links $(TDD_CTL).
TDD_CTL := $(BUILD)/lib/libtdd_ctl.a
TDD_CTL_HDR := $(TOP)/tools/lib/ctl/tdd_ctl.h $(TOP)/tools/lib/ctl/tdd_spec.h
TDD_CTL_CFLAGS := -I$(TOP)/tools/lib/ctl

$(BUILD)/lib/tdd_ctl.o $(BUILD)/lib/tdd_spec.o: $(BUILD)/lib/%.o: \
		$(TOP)/tools/lib/ctl/%.c $(TDD_CTL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(TDD_CTL_CFLAGS) -c -o $@ $<

$(TDD_CTL): $(BUILD)/lib/tdd_ctl.o $(BUILD)/lib/tdd_spec.o
	rm -f $@
	$(AR) rcs $@ $^

CTL_SRC := $(wildcard $(TOP)/tools/tinydsmctl/*.c)
CTL_HDR := $(wildcard $(TOP)/tools/tinydsmctl/*.h)

user: $(BUILD)/tools/tinydsmctl

$(BUILD)/tools/tinydsmctl: $(CTL_SRC) $(CTL_HDR) $(KEYFILE_DEPS) $(TDSM_NL) \
		$(TDSM_NL_HDR) $(TDD_CTL) $(TDD_CTL_HDR) $(TOP)/VERSION
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(NL_CFLAGS) $(TDD_CTL_CFLAGS) $(KEYFILE_CFLAGS) \
		-I$(LIBTDSM_DIR) -o $@ $(CTL_SRC) $(KEYFILE_SRC) $(TDSM_NL) $(TDD_CTL) \
		$(LIBTDSM) $(NL_LIBS) $(KEYFILE_LIBS)

# tinydsmd, the per-node daemon: libnl-genl-3 towards its module, libsodium
# for the key and the MACs between the daemons.
DAEMON_SRC := $(wildcard $(TOP)/daemon/*.c)
DAEMON_HDR := $(wildcard $(TOP)/daemon/*.h)

user: $(BUILD)/daemon/tinydsmd

$(BUILD)/daemon/tinydsmd: $(DAEMON_SRC) $(DAEMON_HDR) $(KEYFILE_DEPS) $(TDSM_NL) \
		$(TDSM_NL_HDR) $(TDD_CTL) $(TDD_CTL_HDR) $(TOP)/VERSION
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(NL_CFLAGS) $(TDD_CTL_CFLAGS) $(KEYFILE_CFLAGS) -pthread -o $@ \
		$(DAEMON_SRC) $(KEYFILE_SRC) $(TDSM_NL) $(TDD_CTL) $(NL_LIBS) $(KEYFILE_LIBS)

$(BUILD)/selftests/netlink_test: $(TOP)/selftests/tinydsm/netlink_test.c \
		$(UAPI_HDR) $(KSRC)/.extracted $(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(NL_CFLAGS) -o $@ $< $(TDSM_NL) $(NL_LIBS)

# daemon_test plays a peer daemon: the daemons' MACs (daemon/auth.c) and
# the key file, with libsodium; the control socket with tools/lib/ctl.
$(BUILD)/selftests/daemon_test: $(TOP)/selftests/tinydsm/daemon_test.c \
		$(TOP)/daemon/auth.c $(TOP)/daemon/auth.h $(KEYFILE_DEPS) $(KSRC)/.extracted \
		$(TDD_CTL) $(TDD_CTL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(KEYFILE_CFLAGS) $(TDD_CTL_CFLAGS) -I$(TOP)/daemon -o $@ $< \
		$(TOP)/daemon/auth.c $(KEYFILE_SRC) $(TDD_CTL) $(KEYFILE_LIBS)

# daemon_cluster_test asks tinydsmd for its status (tools/lib/ctl).
$(BUILD)/selftests/daemon_cluster_test: $(TOP)/selftests/tinydsm/daemon_cluster_test.c \
		$(UAPI_HDR) $(KSRC)/.extracted $(TDD_CTL) $(TDD_CTL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(TDD_CTL_CFLAGS) -o $@ $< $(TDD_CTL)

# run_test runs tinydsmctl run, and asks tinydsmd raw (tools/lib/ctl).
$(BUILD)/selftests/run_test: $(TOP)/selftests/tinydsm/run_test.c \
		$(TOP)/selftests/tinydsm/tdsm_cluster.h $(TOP)/selftests/tinydsm/tdsm_params.h \
		$(UAPI_HDR) $(KSRC)/.extracted $(TDD_CTL) $(TDD_CTL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(TDD_CTL_CFLAGS) -o $@ $< $(TDD_CTL)

# The multi-node tests share their barrier and region helpers.
$(addprefix $(BUILD)/selftests/,cache_test cache_trio_test cluster_sync_test coherence_pair_test \
		coherence_trio_test peer_failure_test daemon_cluster_test sync_cluster_test \
		heap_cluster_test preload_test): \
		$(TOP)/selftests/tinydsm/tdsm_cluster.h

# The one-node tests that run the tree's programs or touch the region
# share tdsm_util.h.
$(addprefix $(BUILD)/selftests/,daemon_test tinydsmctl_test region_test trace_test): \
		$(TOP)/selftests/tinydsm/tdsm_util.h

# The module-parameter helpers: the one-node tests and tdsm_cluster.h.
$(addprefix $(BUILD)/selftests/,module_test region_test priv_test \
		cache_test cache_trio_test cluster_sync_test coherence_pair_test \
		coherence_trio_test conn_test \
		daemon_cluster_test meta_test migration_test peer_failure_test \
		site_cluster_test sync_cluster_test heap_cluster_test unload_cluster_test \
		wire_test preload_test): \
		$(TOP)/selftests/tinydsm/tdsm_params.h

# conn_test: threads of word accesses; the cluster helpers.
$(BUILD)/selftests/conn_test: $(TOP)/selftests/tinydsm/conn_test.c \
		$(TOP)/selftests/tinydsm/tdsm_cluster.h $(UAPI_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -pthread -o $@ $<

# region_test sets the home budget and hears its events over generic
# netlink (tdsm_budget.h).
$(BUILD)/selftests/region_test: $(TOP)/selftests/tinydsm/region_test.c \
		$(TOP)/selftests/tinydsm/tdsm_budget.h $(UAPI_HDR) $(KSRC)/.extracted \
		$(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(NL_CFLAGS) -pthread -o $@ $< $(TDSM_NL) $(NL_LIBS)

# migration_test drives MIGRATE/REPOPULATE over generic netlink.
$(BUILD)/selftests/migration_test: $(TOP)/selftests/tinydsm/migration_test.c \
		$(TOP)/selftests/tinydsm/tdsm_cluster.h $(TOP)/selftests/tinydsm/tdsm_budget.h \
		$(UAPI_HDR) $(KSRC)/.extracted \
		$(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(NL_CFLAGS) -o $@ $< $(TDSM_NL) $(NL_LIBS)

# unload_cluster_test listens to the family's events over generic netlink.
$(BUILD)/selftests/unload_cluster_test: \
		$(TOP)/selftests/tinydsm/unload_cluster_test.c \
		$(TOP)/selftests/tinydsm/tdsm_cluster.h $(UAPI_HDR) $(KSRC)/.extracted \
		$(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(NL_CFLAGS) -o $@ $< $(TDSM_NL) $(NL_LIBS)

# wire_test: a misbehaving peer (rogue.h) over real RDMA (librdmacm, libibverbs);
# node2 drives its own module's MIGRATE over generic netlink (libnl).
# It holds the run's cluster key and makes the proofs with libsodium.
$(BUILD)/selftests/wire_test: $(TOP)/selftests/tinydsm/wire_test.c \
		$(TOP)/selftests/tinydsm/rogue.h \
		$(TOP)/selftests/tinydsm/tdsm_cluster.h $(TOP)/kmod/wire.h \
		$(KEYFILE_DEPS) $(KSRC)/.extracted $(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(NL_CFLAGS) $(KEYFILE_CFLAGS) -o $@ $< $(KEYFILE_SRC) \
		-lrdmacm -libverbs $(TDSM_NL) $(NL_LIBS) $(KEYFILE_LIBS)

user: $(BUILD)/selftests/wire_test

# libtinydsm
# The user library: tdsm_attach(), the access-site macros (TDSM_LOAD64(p)
# ...) and the translation stubs their lookup thunks call. The stubs run in
# the middle of any code, so lookup.c is built with general registers only.
# Programs build with -I$(TOP)/tools/lib/tinydsm -I$(TOP)/uapi and link
# $(BUILD)/lib/libtinydsm.a. `make libtinydsm-test`
# (selftests/tinydsm/site_shape_test.c) checks the sites the macros emit
# and runs both forms of them on the host (no module needed), and
# heap_test.c runs the shared heap and the job (heap.c, job.c, sync.c) in
# fork()ed ranks over a stand-in of the module (tdsm_mock.h), and
# parmacs_test.c PARMACS programs (parmacs.c) the same way, and
# apps_mock_test.sh the programs of tools/apps/, and alloc_mock_test.sh
# the allocator study (tools/bench/alloc_bench.c); `make check` runs them
# before the lab.
LIBTDSM_DIR := $(TOP)/tools/lib/tinydsm
LIBTDSM := $(BUILD)/lib/libtinydsm.a
LIBTDSM_HDR := $(LIBTDSM_DIR)/tinydsm.h $(UAPI_HDR)

# tinydsmctl run makes a job's root in the region (libtinydsm).
$(BUILD)/tools/tinydsmctl: $(LIBTDSM) $(LIBTDSM_HDR)

# libtinydsm's example of a job across nodes (run_test runs it).
user: $(BUILD)/tools/job_count
$(BUILD)/tools/job_count: $(LIBTDSM_DIR)/examples/job_count.c $(LIBTDSM) $(LIBTDSM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -I$(LIBTDSM_DIR) -o $@ $< $(LIBTDSM)

# A PARMACS program (parmacs.h): -no-pie, so that every rank has the
# executable at one address, which CREATE's copy of rank 0's globals needs.
user: $(BUILD)/tools/parmacs_sum
$(BUILD)/tools/parmacs_sum: $(LIBTDSM_DIR)/examples/parmacs_sum.c $(LIBTDSM) \
		$(LIBTDSM_HDR) $(LIBTDSM_DIR)/parmacs.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -no-pie -I$(LIBTDSM_DIR) -o $@ $< $(LIBTDSM)

# The same as a PIE (the compiler's default): it runs under setarch -R
# only, and says so otherwise (run_test.parmacs_pie).
user: $(BUILD)/tools/parmacs_sum_pie
$(BUILD)/tools/parmacs_sum_pie: $(LIBTDSM_DIR)/examples/parmacs_sum.c $(LIBTDSM) \
		$(LIBTDSM_HDR) $(LIBTDSM_DIR)/parmacs.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -fPIE -pie -I$(LIBTDSM_DIR) -o $@ $< $(LIBTDSM)

# SPLASH-2-style PARMACS programs (tools/apps/README.md): radix sort, FFT,
# blocked LU, red-black SOR, molecular dynamics. -no-pie, as parmacs_sum.
APPS := radix fft lu ocean water
APP_BINS := $(addprefix $(BUILD)/apps/,$(APPS))
user: $(APP_BINS)
$(APP_BINS): $(BUILD)/apps/%: $(TOP)/tools/apps/%.c $(TOP)/tools/apps/app.h \
		$(LIBTDSM) $(LIBTDSM_HDR) $(LIBTDSM_DIR)/parmacs.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -no-pie -I$(LIBTDSM_DIR) -o $@ $< $(LIBTDSM) -lm

.PHONY: libtinydsm-test

user: $(LIBTDSM)

LIBTDSM_OBJS := $(addprefix $(BUILD)/lib/,tinydsm.o lookup.o atomic.o wait.o sync.o \
	heap.o job.o parmacs.o window.o)
# The lookup stubs run inside the thunks, which save no vector register.
LIBTDSM_CFLAGS_lookup := -mgeneral-regs-only

$(LIBTDSM_OBJS): $(BUILD)/lib/%.o: $(LIBTDSM_DIR)/%.c $(LIBTDSM_HDR) $(LIBTDSM_DIR)/parmacs.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(LIBTDSM_CFLAGS_$*) -I$(LIBTDSM_DIR) -c -o $@ $<

$(LIBTDSM): $(LIBTDSM_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# libtinydsm-preload.so: the malloc family of an unmodified program in the
# region (LD_PRELOAD; tools/lib/preload/README.md), on jemalloc's arenas.
# Only the replacement set is exported.
PRELOAD := $(BUILD)/lib/libtinydsm-preload.so
user: $(PRELOAD)
$(PRELOAD): $(TOP)/tools/lib/preload/preload.c $(UAPI_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $< \
		-ljemalloc -lpthread
# What preload_test runs under it (threads).
user: $(BUILD)/selftests/preload_check
$(BUILD)/selftests/preload_check: $(TOP)/selftests/tinydsm/preload_check.c $(UAPI_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -o $@ $< -lpthread

$(BUILD)/lib/site_shape_test: $(TOP)/selftests/tinydsm/site_shape_test.c \
		$(LIBTDSM) $(LIBTDSM_HDR) $(KSRC)/.extracted
	$(CC) $(TEST_CFLAGS) -I$(LIBTDSM_DIR) -o $@ $< $(LIBTDSM)

# The heap's sources themselves, over the mock instead of the ioctls.
HEAP_TEST_SRC := $(addprefix $(LIBTDSM_DIR)/,heap.c job.c sync.c)

$(BUILD)/lib/heap_test: $(TOP)/selftests/tinydsm/heap_test.c \
		$(TOP)/selftests/tinydsm/tdsm_mock.h $(HEAP_TEST_SRC) \
		$(LIBTDSM_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -I$(LIBTDSM_DIR) -pthread -o $@ $< $(HEAP_TEST_SRC)

# PARMACS (parmacs.c) over the same mock: CREATE's fork semantics.
$(BUILD)/lib/parmacs_test: $(TOP)/selftests/tinydsm/parmacs_test.c \
		$(TOP)/selftests/tinydsm/tdsm_mock.h $(HEAP_TEST_SRC) \
		$(LIBTDSM_DIR)/parmacs.c $(LIBTDSM_DIR)/parmacs.h \
		$(LIBTDSM_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -I$(LIBTDSM_DIR) -pthread -o $@ $< $(HEAP_TEST_SRC) \
		$(LIBTDSM_DIR)/parmacs.c

# Each of tools/apps/ over the same mock, its main() renamed, launched by
# apps_mock_main.c on mock nodes; apps_mock_test.sh runs each on 1, 2, 3
# and 5 ranks and compares their digests with the 1-rank run's.
APP_MOCK_BINS := $(addprefix $(BUILD)/lib/apps/,$(addsuffix _mock,$(APPS)))
$(BUILD)/lib/apps/%_mock.o: $(TOP)/tools/apps/%.c $(TOP)/tools/apps/app.h \
		$(LIBTDSM_HDR) $(LIBTDSM_DIR)/parmacs.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -I$(LIBTDSM_DIR) -Dmain=tdsm_app_main -c -o $@ $<

$(APP_MOCK_BINS): $(BUILD)/lib/apps/%_mock: $(BUILD)/lib/apps/%_mock.o \
		$(TOP)/selftests/tinydsm/apps_mock_main.c \
		$(TOP)/selftests/tinydsm/tdsm_mock.h $(HEAP_TEST_SRC) \
		$(LIBTDSM_DIR)/parmacs.c $(LIBTDSM_DIR)/parmacs.h $(LIBTDSM_HDR)
	$(CC) $(USER_CFLAGS) -no-pie -I$(LIBTDSM_DIR) -o $@ \
		$(TOP)/selftests/tinydsm/apps_mock_main.c $< $(HEAP_TEST_SRC) \
		$(LIBTDSM_DIR)/parmacs.c -lm

# The allocator study (tools/bench/alloc_bench.c) over the same mock, its
# main() renamed and launched by apps_mock_main.c (which stands in for the
# module calls tools/bench/common.c names); alloc_mock_test.sh runs each
# strategy on 1 and 3 ranks and checks its figures.
ALLOC_MOCK := $(BUILD)/lib/bench/alloc_bench_mock
$(BUILD)/lib/bench/alloc_bench_mock.o: $(TOP)/tools/bench/alloc_bench.c \
		$(TOP)/tools/bench/common.h $(LIBTDSM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Dmain=tdsm_app_main -c -o $@ $<

$(ALLOC_MOCK): $(BUILD)/lib/bench/alloc_bench_mock.o \
		$(TOP)/selftests/tinydsm/apps_mock_main.c \
		$(TOP)/selftests/tinydsm/tdsm_mock.h $(BENCH_COMMON_DEPS) \
		$(HEAP_TEST_SRC) $(LIBTDSM_HDR)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ \
		$(TOP)/selftests/tinydsm/apps_mock_main.c $< $(BENCH_COMMON) \
		$(HEAP_TEST_SRC) -lm

libtinydsm-test: $(BUILD)/lib/site_shape_test $(BUILD)/lib/heap_test \
		$(BUILD)/lib/parmacs_test $(APP_MOCK_BINS) $(ALLOC_MOCK)
	$(BUILD)/lib/site_shape_test
	$(BUILD)/lib/heap_test
	$(BUILD)/lib/parmacs_test
	$(TOP)/selftests/tinydsm/apps_mock_test.sh $(BUILD)/lib/apps
	$(TOP)/selftests/tinydsm/alloc_mock_test.sh $(ALLOC_MOCK)

check-run: libtinydsm-test
# end of libtinydsm

# The access-site tests link libtinydsm (threads: the rewrite stress test).
$(BUILD)/selftests/site_test $(BUILD)/selftests/site_cluster_test \
		$(BUILD)/selftests/sync_cluster_test $(BUILD)/selftests/heap_cluster_test: \
		$(BUILD)/selftests/%: $(TOP)/selftests/tinydsm/%.c $(LIBTDSM) \
		$(LIBTDSM_HDR) $(TOP)/selftests/tinydsm/tdsm_cluster.h \
		$(TOP)/selftests/tinydsm/tdsm_sites.h $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -I$(LIBTDSM_DIR) -pthread -o $@ $< $(LIBTDSM)

# run-host-test: tinydsmctl run between two tinydsmd on the host, in a
# network namespace of their own, without the module (fake_genl.c stands
# in for genl.c: membership, authentication and jobs only). Needs root.
RUN_FAKE_DAEMON := $(BUILD)/host/tinydsmd-fake
.PHONY: run-host-test

$(RUN_FAKE_DAEMON): $(filter-out $(TOP)/daemon/genl.c,$(DAEMON_SRC)) $(DAEMON_HDR) \
		$(TOP)/selftests/tinydsm/fake_genl.c $(KEYFILE_DEPS) $(TDD_CTL) $(TDD_CTL_HDR) \
		$(TOP)/VERSION
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(TDD_CTL_CFLAGS) $(KEYFILE_CFLAGS) -I$(TOP)/daemon -pthread -o $@ \
		$(filter-out $(TOP)/daemon/genl.c,$(DAEMON_SRC)) \
		$(TOP)/selftests/tinydsm/fake_genl.c $(KEYFILE_SRC) $(TDD_CTL) $(KEYFILE_LIBS)

run-host-test: $(RUN_FAKE_DAEMON) $(BUILD)/tools/tinydsmctl
	$(TOP)/selftests/tinydsm/run_host_test.sh $(BUILD)

check-run: run-host-test

# run-sim-test: the lab's run_test on 2 and 3 simulated nodes on the host
# (mount namespaces sharing a private network namespace, tinydsmd with
# fake_genl.c; selftests/tinydsm/run_sim_cluster.sh). Needs root. Not in
# check-run: the lab runs run_test itself.
.PHONY: run-sim-test

run-sim-test: $(RUN_FAKE_DAEMON) $(BUILD)/tools/tinydsmctl $(BUILD)/selftests/run_test
	$(TOP)/selftests/tinydsm/run_sim_cluster.sh $(BUILD)

# run-spec-test: a job's bounds and its encoding on the lines
# (tools/lib/ctl/tdd_spec.c), on the host.
.PHONY: run-spec-test

$(BUILD)/host/run_spec_test: $(TOP)/selftests/tinydsm/run_spec_test.c $(TDD_CTL) \
		$(TDD_CTL_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(TDD_CTL_CFLAGS) -o $@ $< $(TDD_CTL)

run-spec-test: $(BUILD)/host/run_spec_test
	$<

check-run: run-spec-test

# priv_test: least privilege on one node; its own site table (libtinydsm)
# and ibv_reg_mr of a region page (libibverbs).
$(BUILD)/selftests/priv_test: $(TOP)/selftests/tinydsm/priv_test.c $(LIBTDSM) \
		$(LIBTDSM_HDR) $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -I$(LIBTDSM_DIR) -o $@ $< $(LIBTDSM) -libverbs

# The report: tools/report/report.py turns the benchmarks' and the demo's
# key=value results into their tables, CSV, JSON and plots (runs on the
# host, Python 3). `make report-test` runs it on the results kept in
# tools/report/test/ against the tables kept there; `make check` runs it
# before the lab.
.PHONY: report-test

report-test:
	$(TOP)/tools/report/test/run.sh

check-run: report-test

# The lab's host-side helpers that decide what a run's logs mean:
# selftests/lab/rxe_panicked.sh and nic_stalled.sh (a lab run again after
# Soft-RoCE's own panic, or after a guest's NIC stopped sending) on
# made-up logs; and a 2-node lab whose guest says its NIC stalled, which
# the lab must stop, keeping QEMU's and the guest's view of the NIC.
.PHONY: lab-test

lab-test:
	$(TOP)/selftests/lab/test/rxe_panicked_test.sh
	$(TOP)/selftests/lab/test/nic_stalled_test.sh
	$(TOP)/selftests/lab/test/nic_stall_stop_test.sh

check-run: lab-test

deps:
	$(TOP)/tools/install-deps.sh

# The benchmarks (not a test): remote memory, migration, access sites, the
# bounded cache, page metadata, synchronisation and the allocator study,
# tools/bench/README.md.
bench: deps
	$(MAKE) -C $(TOP) bench-run

bench-run: module user
	$(TOP)/tools/bench.sh --no-build --kver $(KVER)

# Sub-makes, so that kernels installed by deps are seen.
check: deps
	$(MAKE) -C $(TOP) check-run

check-run:
	@if [ "$(DEBUG_KERNEL)" = 1 ]; then $(TOP)/selftests/debug_build.sh start $(DEBUG_BUILD); fi
	$(MAKE) -C $(TOP) style
	@for k in $(CHECK_KVERS); do $(MAKE) -C $(TOP) KVER=$$k module || exit 1; done
	$(MAKE) -C $(TOP) user
	$(TOP)/selftests/run.sh $(addprefix --kver ,$(CHECK_KVERS)) \
		$(if $(filter 1,$(DEBUG_KERNEL)),--debug-build $(DEBUG_BUILD))

# The lab's debug kernel (KASAN, lockdep, kmemleak; selftests/lab/debug-kernel.sh):
# built from linux-source-6.12 once per machine (cached in /var/cache/tinydsm),
# installed as <version>-tdsm-debug, and the module built for it. make check
# builds it in the background from its start (selftests/debug_build.sh)
# and runs the 2- and 3-node suites on it; DEBUG_KERNEL=0 leaves it out.
DEBUG_KERNEL ?= 1
DEBUG_KVER_FILE := $(BUILD)/debug-kver
DEBUG_BUILD := $(BUILD)/debug-build

.PHONY: debug-kernel

debug-kernel:
	@mkdir -p $(BUILD)
	$(TOP)/selftests/lab/debug-kernel.sh >$(DEBUG_KVER_FILE).tmp
	@mv $(DEBUG_KVER_FILE).tmp $(DEBUG_KVER_FILE)
	$(MAKE) -C $(TOP) KVER=$$(cat $(DEBUG_KVER_FILE)) module

# make demo: access costs, first touch of remote pages, and lazy and eager
# repopulation after a migration, on 2 and 3 QEMU guests
# (tools/demo/README.md). DEMO_ARGS passes options to tools/demo.sh, e.g.
# DEMO_ARGS="--pages 512 --only a,b".
DEMO_ARGS ?=

demo: deps
	$(MAKE) -C $(TOP) demo-run

demo-run: all $(BUILD)/tools/seed_demo $(BUILD)/tools/access_bench
	$(TOP)/tools/demo.sh --kver $(KVER) $(DEMO_ARGS)

# make check runs a small demo too.
user: $(BUILD)/tools/seed_demo

$(BUILD)/tools/seed_demo: $(TOP)/tools/demo/seed_demo.c $(BENCH_COMMON_DEPS) \
		$(LIBTDSM) $(LIBTDSM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_COMMON) $(LIBTDSM)

style: $(KSRC)/.extracted
	perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse \
		--show-types -f \
		$(wildcard $(TOP)/kmod/*.c $(TOP)/kmod/*.h) $(UAPI_HDR)

# Install on a real node: the module for KVER (then depmod), tinydsmd,
# tinydsmctl, their man pages, the systemd unit and an example config
# (never over an existing /etc/tinydsm.conf), and who may open the device:
# the system group tinydsm (created unless it exists; not with DESTDIR,
# where a package's postinst does it) and the udev rule that gives
# /dev/tinydsm that group, mode 0660. DESTDIR for packaging.
DESTDIR ?=
SBINDIR ?= /usr/sbin
MANDIR ?= /usr/share/man
UNITDIR ?= /lib/systemd/system
UDEVDIR ?= /lib/udev/rules.d

install: install-module install-user

install-module: $(KO)
	install -D -m 644 $(KO) $(DESTDIR)/lib/modules/$(KVER)/extra/tinydsm.ko
	test -n "$(DESTDIR)" || depmod $(KVER)

install-user: $(BUILD)/daemon/tinydsmd $(BUILD)/tools/tinydsmctl $(BUILD)/lib/libtinydsm.a \
		$(PRELOAD)
	install -D -m 755 $(BUILD)/daemon/tinydsmd $(DESTDIR)$(SBINDIR)/tinydsmd
	install -D -m 755 $(BUILD)/tools/tinydsmctl $(DESTDIR)$(SBINDIR)/tinydsmctl
	install -D -m 755 $(BUILD)/tools/tinydsm-trace $(DESTDIR)$(SBINDIR)/tinydsm-trace
	for m in daemon/tinydsmd.8 tools/tinydsmctl/tinydsmctl.8; do \
		sed '/^\.TH /s/"tinydsm"/"tinydsm $(TDSM_VERSION)"/' $(TOP)/$$m >$(BUILD)/man.tmp && \
		install -D -m 644 $(BUILD)/man.tmp $(DESTDIR)$(MANDIR)/man8/$$(basename $$m) || exit 1; \
	done; rm -f $(BUILD)/man.tmp
	install -D -m 644 $(TOP)/daemon/tinydsmd.service \
		$(DESTDIR)$(UNITDIR)/tinydsmd.service
	install -D -m 644 $(TOP)/uapi/linux/tinydsm.h \
		$(DESTDIR)/usr/include/linux/tinydsm.h
	install -D -m 644 $(TOP)/tools/lib/tinydsm/tinydsm.h \
		$(DESTDIR)/usr/include/tinydsm.h
	install -D -m 644 $(BUILD)/lib/libtinydsm.a $(DESTDIR)/usr/lib/libtinydsm.a
	install -D -m 644 $(PRELOAD) $(DESTDIR)/usr/lib/libtinydsm-preload.so
	test -e $(DESTDIR)/etc/tinydsm.conf || install -D -m 644 \
		$(TOP)/daemon/tinydsm.conf.example $(DESTDIR)/etc/tinydsm.conf
	install -D -m 644 $(TOP)/tools/udev/60-tinydsm.rules \
		$(DESTDIR)$(UDEVDIR)/60-tinydsm.rules
	test -n "$(DESTDIR)" || getent group tinydsm >/dev/null || groupadd --system tinydsm
	test -n "$(DESTDIR)" || ! command -v udevadm >/dev/null || \
		{ udevadm control --reload && udevadm trigger --subsystem-match=misc \
			--sysname-match=tinydsm; } || \
		echo "udev not reloaded: 60-tinydsm.rules applies from the next boot"

# DKMS (dkms.conf): the module's sources in /usr/src/tinydsm-<version>,
# built and installed by dkms for every kernel with headers, and rebuilt
# when a kernel is installed. dkms-check does the same into scratch trees
# (nothing in /usr/src or /var/lib/dkms) for the kernels make check runs.
# The dkms.conf installed has PACKAGE_VERSION from VERSION, in place of
# @TDSM_VERSION@.
DKMS_FILES := Kbuild VERSION $(patsubst $(TOP)/%,%,$(wildcard $(TOP)/kmod/*.c \
	$(TOP)/kmod/*.h)) uapi/linux/tinydsm.h

.PHONY: install-dkms dkms-check

install-dkms:
	rm -rf $(DESTDIR)/usr/src/tinydsm-$(TDSM_VERSION)
	cd $(TOP) && for f in $(DKMS_FILES); do \
		install -D -m 644 $$f $(DESTDIR)/usr/src/tinydsm-$(TDSM_VERSION)/$$f || exit 1; done
	sed 's/@TDSM_VERSION@/$(TDSM_VERSION)/' $(TOP)/dkms.conf \
		>$(DESTDIR)/usr/src/tinydsm-$(TDSM_VERSION)/dkms.conf
	test -n "$(DESTDIR)" || { dkms remove tinydsm/$(TDSM_VERSION) --all >/dev/null 2>&1; \
		dkms install tinydsm/$(TDSM_VERSION) -k $(KVER); }

dkms-check:
	rm -rf $(BUILD)/dkms
	$(MAKE) -C $(TOP) DESTDIR=$(BUILD)/dkms/root install-dkms
	@for k in $(CHECK_KVERS); do \
		echo "dkms-check: dkms install tinydsm/$(TDSM_VERSION) -k $$k"; \
		mkdir -p $(BUILD)/dkms/lib/modules/$$k; \
		dkms install tinydsm/$(TDSM_VERSION) -k $$k \
			--sourcetree $(BUILD)/dkms/root/usr/src \
			--dkmstree $(BUILD)/dkms/tree \
			--installtree $(BUILD)/dkms/lib/modules >$(BUILD)/dkms/$$k.log 2>&1 || \
			{ tail -n 30 $(BUILD)/dkms/$$k.log; \
			  cat $(BUILD)/dkms/tree/tinydsm/$(TDSM_VERSION)/build/make.log 2>/dev/null; exit 1; }; \
		ko=$$(find $(BUILD)/dkms/lib/modules/$$k -name 'tinydsm.ko*' | head -n 1); \
		test -n "$$ko" && modinfo -F vermagic $$ko | grep -q "^$$k " && \
			modinfo -F version $$ko | grep -qx "$(TDSM_VERSION)" || \
			{ echo "dkms-check: no tinydsm.ko $(TDSM_VERSION) for $$k in the install tree"; exit 1; }; \
		echo "dkms-check: $$k: built and installed"; \
	done

check-run: dkms-check

clean:
	rm -rf $(BUILD)

# x86_mov host test
# kmod/x86_mov.c (the uprobe path's mov decoder and the site encoder) built
# for the host and checked against GNU as and objdump; needs no module.
X86_MOV_TEST := $(BUILD)/host/x86_mov_test

.PHONY: x86-mov-test

x86-mov-test: $(X86_MOV_TEST)
	$(X86_MOV_TEST)

$(X86_MOV_TEST): $(TOP)/selftests/tinydsm/x86_mov_test.c $(TOP)/kmod/x86_mov.c \
		$(TOP)/kmod/x86_mov.h $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $<

check-run: x86-mov-test
# end of x86_mov host test

# The benchmarks (BENCHES, tools/bench/README.md): each links the helpers
# they share, tools/bench/common.c, and libtinydsm (access_bench's loops use
# its sites, sync_bench its atomics, mutex, barrier and wait/wake,
# alloc_bench its runs, job and heap);
# migrate_bench drives MIGRATE/REPOPULATE over generic netlink.
$(BUILD)/tools/%: $(TOP)/tools/bench/%.c $(BENCH_COMMON_DEPS) $(LIBTDSM) \
		$(LIBTDSM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_COMMON) $(LIBTDSM) -lm

# alloc_bench's threads.
$(BUILD)/tools/alloc_bench: $(TOP)/tools/bench/alloc_bench.c $(BENCH_COMMON_DEPS) \
		$(LIBTDSM) $(LIBTDSM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $< $(BENCH_COMMON) $(LIBTDSM) -lm

$(BUILD)/tools/migrate_bench: $(TOP)/tools/bench/migrate_bench.c \
		$(BENCH_COMMON_DEPS) $(LIBTDSM) $(LIBTDSM_HDR) $(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(NL_CFLAGS) -o $@ $< $(BENCH_COMMON) $(LIBTDSM) \
		$(TDSM_NL) $(NL_LIBS)
# end of the benchmarks

# tinydsm-trace
# The libbpf tracer of the module's tracepoints (tools/trace/README.md): a
# CO-RE BPF object compiled against a vmlinux.h that is generated here from
# the build host's kernel BTF (never committed), its bpftool skeleton, and
# the loader that embeds it. trace_test runs it in the lab.
TRACE_DIR := $(TOP)/tools/trace
TRACE_OBJ := $(BUILD)/tools/trace
TRACE_BIN := $(BUILD)/tools/tinydsm-trace
BPF_CLANG ?= clang
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -I$(TRACE_OBJ) -I$(TRACE_DIR)

user: $(TRACE_BIN) $(BUILD)/selftests/trace_test
install-user: $(TRACE_BIN)

$(TRACE_OBJ)/vmlinux.h:
	@test -r $(VMLINUX_BTF) || { echo "$(VMLINUX_BTF) not readable: the" \
		"kernel has no BTF (set VMLINUX_BTF=<file with BTF>)" >&2; exit 1; }
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	mv $@.tmp $@

$(TRACE_OBJ)/tinydsm_trace.bpf.o: $(TRACE_DIR)/tinydsm_trace.bpf.c \
		$(TRACE_DIR)/tinydsm_trace.h $(TRACE_OBJ)/vmlinux.h
	$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(TRACE_OBJ)/tinydsm_trace.skel.h: $(TRACE_OBJ)/tinydsm_trace.bpf.o
	$(BPFTOOL) gen skeleton $< name tinydsm_trace > $@.tmp
	mv $@.tmp $@

$(TRACE_BIN): $(TRACE_DIR)/tinydsm_trace.c $(TRACE_DIR)/tinydsm_trace.h \
		$(TRACE_OBJ)/tinydsm_trace.skel.h
	$(CC) $(USER_CFLAGS) -I$(TRACE_OBJ) -I$(TRACE_DIR) -o $@ $< -lbpf -lelf -lz

# The test runs the tracer (order-only: a new tracer needs no new test).
$(BUILD)/selftests/trace_test: $(TOP)/selftests/tinydsm/trace_test.c $(UAPI_HDR) \
		$(KSRC)/.extracted | $(TRACE_BIN)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $<
# end of tinydsm-trace

# spin model
# kmod/model/tinydsm.pml, a model of the coherence protocol, checked with
# spin (kmod/model/README.md): exhaustive safety searches, a progress check
# and broken variants spin must catch. Needs no module and no lab; pan is
# built in build/model/.
.PHONY: model-check

model-check:
	MODEL_BUILD=$(BUILD)/model $(TOP)/kmod/model/check.sh

check-run: model-check
# end of spin model

# soak
# make soak: 3 lab nodes on the debug kernel (built once per machine, as
# for make check) for SOAK_ARGS="--minutes N ..." (default 30): random
# reads, writes, atomics and word accesses checked word by word while
# faults are injected (tools/soak/README.md). Not part of make check.
# SOAK_KVER=<release> runs on another kernel instead of the debug one.
SOAK_ARGS ?=
SOAK_KVER ?=
SOAK_WORKER := $(BUILD)/tools/soak_worker

.PHONY: soak soak-run soak-selftest

user: $(SOAK_WORKER)

$(SOAK_WORKER): $(TOP)/tools/soak/soak_worker.c $(UAPI_HDR) $(TDSM_NL) $(TDSM_NL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(NL_CFLAGS) -o $@ $< $(TDSM_NL) $(NL_LIBS)

soak: deps
	@if [ -z "$(SOAK_KVER)" ]; then $(MAKE) -C $(TOP) debug-kernel || exit 1; fi
	$(MAKE) -C $(TOP) KVER=$(if $(SOAK_KVER),$(SOAK_KVER),$$(cat $(DEBUG_KVER_FILE))) soak-run

soak-run: module user
	$(TOP)/tools/soak/soak.sh --no-build --kver $(KVER) $(SOAK_ARGS)

# The checker on plain memory, without a module (soak.sh runs it first).
soak-selftest: $(SOAK_WORKER)
	$(SOAK_WORKER) selftest

check-run: soak-selftest
# end of soak
