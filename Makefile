# Replicate: `make replicate PAPER=<name> [PRESET=ci|default] [ARGS="key=value ..."]` and `make test`.
# Every target that needs the system libraries depends on `setup`, which installs them only
# when missing.

PAPER  ?= nanogpt
PRESET ?= default
ARGS   ?=
SEEDS  ?=
GRID   ?=
SUBMIT ?= 1
RUNS   ?=
ALL    ?=
PAPERS := $(sort $(patsubst papers/%/main.swift,%,$(wildcard papers/*/main.swift)))
APT_PACKAGES := libhdf5-dev hdf5-tools libpng-dev gnuplot-nox libopenblas-dev libfftw3-dev curl unzip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Papers are discovered by listing papers/ in Package.swift; SwiftPM's manifest cache would
# keep an old list, so it is off (costs ~1 s).
SWIFT_FLAGS := --manifest-cache none
SWIFT_BUILD := swift build -c release $(SWIFT_FLAGS)
export REPLICATE_SWIFT_VERSION := $(shell swift --version 2>/dev/null | head -n 1)

.PHONY: setup data build replicate list test unit check check-blas test-slurm test-summary summary bless bench bench-setup new-paper clean help fuzz sweep merge

help:
	@echo "make replicate PAPER=<paper> [PRESET=<preset>] [ARGS='key=value ...']   train/benchmark, write runs/<paper>/<run>/"
	@echo "make test          unit tests + every paper's ci preset against its blessed baseline (= make unit check check-blas test-slurm test-summary)"
	@echo "make unit | check  either half of make test;  make bless PAPER=...  re-bless a ci baseline"
	@echo "make fuzz [CASES=N] the readers and the override parser on N mutated inputs each (default 1000000)"
	@echo "make bench [ARGS=...] | bench-setup   speed against PyTorch (bench-setup: the torch venv)"
	@echo "make sweep PAPER=... [PRESET=...] SEEDS=1-10 [GRID='key=a,b ...'] [SUBMIT=0]   a Slurm job array, one run folder per task"
	@echo "make merge PAPER=... RUNS=<sweep folder>   join the finished tasks into one run folder and report"
	@echo "make summary [RUNS=dir] [ALL=1]   runs/index.html: every paper's newest run, its verdicts and figures"
	@echo "make list | data | setup | clean | new-paper NAME=..."
	@echo ""
	@echo "papers and presets (<paper> --help lists every config key):"
	@for p in $(PAPERS); do \
	  if [ -x .build/release/$$p ]; then .build/release/$$p --help | sed -n '/^presets:/,/^$$/p' | sed '1d;/^$$/d;s/^  //' | sed "s/^/  $$p /"; \
	  else echo "  $$p (make build, then make help, to list its presets)"; fi; \
	done

# System packages (Debian): installed only when one is missing. h5py is optional (tests use it
# when it imports) and is installed best-effort.
setup: .setup-done
.setup-done: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@python3 -c 'import h5py' 2>/dev/null || python3 -m pip install -q h5py 2>/dev/null || \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-h5py >/dev/null 2>&1 || \
	  echo "note: h5py not installed; the h5py interop tests will be skipped"
	@touch .setup-done

data: setup
	bash data/fetch.sh

# SwiftPM's incremental build can keep a dependent module's stale copy of a changed library
# (seen in release: a paper binary allocating GPT at its old size after a stored property was
# added, corrupting the heap; seen in debug: a paper binary linking against a static property's
# old accessor). So a change under Sources/ forces a clean build of that configuration.
# $(call fresh,CONFIG): drop .build's CONFIG products when Sources/ changed since they were built.
# Libraries: Sources/ and the papers' library folders (papers/<name>/<Module>/).
SOURCES_HASH = find Sources Package.swift $$(ls -d papers/*/[A-Z]*/ | grep -v '/Tests/$$') -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64
define fresh
@mkdir -p .build; new=$$($(SOURCES_HASH)); stamp=.build/$(1)-sources.sha256; \
if [ -f $$stamp ] && [ "$$(cat $$stamp)" != "$$new" ]; then \
  echo "Sources/ changed since the last $(1) build: rebuilding it from scratch"; \
  rm -rf .build/*/$(1) .build/$(1) .build/$(1).yaml; fi; echo "$$new" > $$stamp.next
endef

build: setup
	$(call fresh,release)
	$(SWIFT_BUILD) && mv .build/release-sources.sha256.next .build/release-sources.sha256

replicate: build
	@test -f papers/$(PAPER)/main.swift || { echo "unknown PAPER=$(PAPER); papers: $(PAPERS)"; exit 2; }
	.build/release/$(PAPER) run --preset $(PRESET) $(ARGS)

list: build
	@for p in $(PAPERS); do .build/release/$$p presets; done

# Unit tests, then every paper's ci preset against its blessed baseline.
test: unit check check-blas test-slurm test-summary

unit: setup
	$(call fresh,debug)
	swift build --build-tests $(SWIFT_FLAGS) && mv .build/debug-sources.sha256.next .build/debug-sources.sha256
	swift test --skip-build $(SWIFT_FLAGS)

# The fuzz tests (claims, baselines, overrides, the .ts and CSV readers) with many more cases
# than make test's 20,000 each; a failure names its seed, so it reproduces.
CASES ?= 1000000
fuzz: setup
	$(call fresh,debug)
	swift build --build-tests $(SWIFT_FLAGS) && mv .build/debug-sources.sha256.next .build/debug-sources.sha256
	REPLICATE_FUZZ_CASES=$(CASES) swift test --skip-build $(SWIFT_FLAGS) --filter 'Fuzz'

check: build
	@status=0; for p in $(PAPERS); do \
	  if [ -f papers/$$p/expected/ci.json ]; then \
	    echo "== make check: $$p"; .build/release/$$p check || status=1; \
	  else echo "== make check: $$p has no expected/ci.json (run make bless PAPER=$$p)"; status=1; fi; \
	done; exit $$status

# A baseline must hold on any x86-64 machine, where OpenBLAS picks another GEMM kernel and so
# another rounding: the same checks on its oldest kernel (Prescott: SSE3, no FMA). A tolerance
# that only this machine's kernel meets fails here.
check-blas: build
	@OPENBLAS_CORETYPE=Prescott $(MAKE) --no-print-directory check

# Sweeps over a Slurm cluster: one array task per (grid point, seed), one run folder each;
# merge joins the finished ones into the run folder one process would have written.
sweep: build
	.build/release/$(PAPER) sweep --preset $(PRESET) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(GRID),--grid "$(GRID)") --submit $(SUBMIT) $(ARGS)

merge: build
	@test -n "$(RUNS)" || { echo "usage: make merge PAPER=<paper> RUNS=<sweep folder, or run folders>"; exit 2; }
	.build/release/$(PAPER) merge $(RUNS) $(ARGS)

# A one-node Slurm on this machine (root; installs slurm-wlm munge), a sweep, a requeue, merges
# equal to one process. Skips, saying why, where Slurm cannot run.
test-slurm: build
	bash tools/slurm/test.sh

# One page over every paper's newest run per preset: runs/index.html and runs/index.md.
summary: build
	.build/release/summary $(if $(RUNS),--runs $(RUNS)) $(if $(ALL),--all $(ALL))

# The page over the ci runs make check just wrote: links, images, verdict counts against each
# report, every paper listed, and a headless Chromium screenshot where chromium is installed.
test-summary: build
	.build/release/summary
	python3 tools/summary/check_page.py runs $(PAPERS)

# The only way a baseline is rewritten.
bless: build
	.build/release/$(PAPER) bless

bench: build
	.build/release/bench $(ARGS)

# A CPU build of torch for the benchmark peers (plain `pip install torch` pulls the CUDA build).
bench-setup:
	python3 -m venv .venv-bench
	.venv-bench/bin/pip install -q torch==2.13.0+cpu numpy h5py || .venv-bench/bin/pip install -q --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0+cpu numpy h5py

# A new paper from papers/_template (its README has the checklist).
new-paper:
	@echo "$(NAME)" | grep -Eq '^[a-z][a-z0-9]*$$' || { echo "usage: make new-paper NAME=<lower-case letters and digits>"; exit 2; }
	@test ! -e papers/$(NAME) || { echo "papers/$(NAME) exists"; exit 2; }
	cp -r papers/_template papers/$(NAME)
	rm -rf papers/$(NAME)/expected
	sed -i 's/_template/$(NAME)/g' papers/$(NAME)/main.swift papers/$(NAME)/README.md papers/$(NAME)/reference/check_numpy.py
	@echo "papers/$(NAME): follow its README's checklist, then make bless PAPER=$(NAME)"

clean:
	rm -rf .build .setup-done
