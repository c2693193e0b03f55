# synthgen: the two commands of a fresh machine are `make demo` and `make test`.
# `make demo` sets up only what the demo needs (`setup-demo`); `make test` (and `make setup`)
# everything. Setup is idempotent (each step checks before it acts).
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/synthgen
DEMO_OUT ?= out/demo
DEMO_STUDY ?= out/demo-study

.PHONY: setup setup-demo build demo test lint fmt bench clean-demo

# The crates download (`cargo fetch`) runs beside setup's own downloads.
FETCH_BESIDE = t0=$$SECONDS; ($(CARGO) fetch --quiet && echo "setup: crates fetched ($$((SECONDS - t0)) s)") & fetch=$$!; \
  bash scripts/setup.sh $(1); status=$$?; wait $$fetch && exit $$status

setup:
	@$(call FETCH_BESIDE,all)
	@$(MAKE) --no-print-directory build

setup-demo:
	@$(call FETCH_BESIDE,demo)
	@$(MAKE) --no-print-directory build

build:
	@t0=$$SECONDS; source scripts/cargo-env.sh && $(CARGO) build --release --quiet && \
	  echo "setup: built $(BIN) ($$((SECONDS - t0)) s)"

demo: setup-demo
	@rm -rf $(DEMO_OUT)
	@t0=$$SECONDS; source scripts/cargo-env.sh && $(BIN) render --preset demo --out $(DEMO_OUT) && \
	  echo "demo dataset ($$((SECONDS - t0)) s): $$(cd $(DEMO_OUT) && pwd) (images in <class>/, masks in masks/, manifest.jsonl, image_list.txt)"
	@rm -rf $(DEMO_STUDY)
	@t0=$$SECONDS; source scripts/cargo-env.sh && $(BIN) study demo --out $(DEMO_STUDY) >/dev/null && \
	  echo "demo study ($$((SECONDS - t0)) s; renders, a tiny trained model, evaluation): open $$(cd $(DEMO_STUDY) && pwd)/report.html"

# Tests run many libtorch runs at once: one OpenMP thread each (see device::thread_plan).
# Then the float-sensitive tests again at lower CPU instruction-set levels
# (scripts/test-levels.sh), so that the suite holds on CPUs other than this one.
test: setup
	@source scripts/cargo-env.sh && OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(CARGO) test --release --no-fail-fast 2>&1 | tee target/test.log; \
	  status=$${PIPESTATUS[0]}; \
	  CARGO=$(CARGO) bash scripts/test-levels.sh 2>&1 | tee target/test-levels.log; \
	  levels=$${PIPESTATUS[0]}; \
	  bash scripts/test-summary.sh target/test.log; \
	  bash scripts/test-summary.sh target/test-levels.log "at lower CPU levels ($$(head -1 target/test-levels.log | sed 's/.* with //'))"; \
	  [ $$status -eq 0 ] && [ $$levels -eq 0 ]

lint:
	@source scripts/cargo-env.sh && $(CARGO) fmt --check && $(CARGO) clippy --release --all-targets -- -D warnings

fmt:
	@$(CARGO) fmt

bench: setup
	@bash bench/render_overhead.sh
