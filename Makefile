# Two entry points for a fresh machine with only Python and Rust: `make report` and `make test`.
# `make report` installs the package and its runtime dependencies (numpy, pyarrow) only;
# `make test` adds the dev tools (the `test` dependency group in pyproject.toml). Both work from
# this repository's own files and print their progress.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))
RUST_SOURCES := $(shell find rust -name '*.rs') Cargo.toml rust/core/Cargo.toml rust/python/Cargo.toml

.PHONY: report test check-rust check-python pytest bench-check bench bench-huge wheel clean

# The virtualenv with the build tool (maturin) only.
$(VENV)/.tools:
	@echo "== creating $(VENV) with maturin"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --progress-bar off pip maturin
	touch $@

# The package in place, built in release mode (incremental); maturin installs its runtime
# dependencies and cargo prints one line per compiled crate.
$(VENV)/.built: $(VENV)/.tools $(RUST_SOURCES) pyproject.toml
	@echo "== building the Rust extension (release; a few minutes on a fresh machine)"
	rm -f python/cxmetrics/_native*.so  # a stale per-version library would shadow the abi3 one
	$(BIN)/maturin develop --release
	touch $@

# The dev tools for `make test`, read from pyproject.toml's [dependency-groups] (pip >= 25.1).
$(VENV)/.dev: $(VENV)/.tools pyproject.toml
	@echo "== installing the dev tools (pytest, mypy, ruff, peers for the benchmarks, spark, dask)"
	$(BIN)/python -m pip install --progress-bar off --group test
	touch $@

report: $(VENV)/.built
	$(BIN)/cxmetrics report --sample

# zig (the `ziglang` package from PyPI) links the wheel against glibc 2.17 symbols, for the
# manylinux2014 tag; only `make wheel` installs it.
$(VENV)/.zig: $(VENV)/.tools
	$(BIN)/python -m pip install --progress-bar off ziglang
	touch $@

# One abi3 wheel (CPython >= 3.10) tagged manylinux2014 (glibc >= 2.17), checked by maturin's
# auditwheel pass, into dist/. maturin finds zig as `python3 -m ziglang`, hence the venv first
# on PATH. tests/test_wheel.py builds the same wheel and installs it without Rust.
wheel: $(VENV)/.zig
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/maturin build --release --zig \
		--compatibility manylinux2014 --auditwheel check --interpreter $(BIN)/python --out dist

test: check-rust check-python pytest bench-check

check-rust: $(VENV)/.built $(VENV)/.dev
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	cargo test --quiet -p cxmetrics-core

check-python: $(VENV)/.built $(VENV)/.dev
	$(BIN)/ruff check python tests benches tools
	$(BIN)/mypy python
	$(BIN)/python -m mypy.stubtest cxmetrics._native --mypy-config-file pyproject.toml
	$(BIN)/python tools/typecheck_docs.py

pytest: $(VENV)/.built $(VENV)/.dev
	$(BIN)/python -m pytest -q

# CI's speed check: the 1M-row benchmarks against DuckDB, polars, pyarrow, pandas and scipy,
# measured in one run; fails when a ratio falls below its floor in benches/floors.py.
bench-check: $(VENV)/.built $(VENV)/.dev
	$(BIN)/python -m pytest benches -q -p no:cacheprovider --benchmark-enable --bench-size quick \
		--benchmark-columns=median,iqr,rounds

# The issue's 10M-row setting (slower; not part of `make test`).
bench: $(VENV)/.built $(VENV)/.dev
	$(BIN)/python -m pytest benches -q -p no:cacheprovider --benchmark-enable --bench-size full \
		--benchmark-columns=median,iqr,rounds

# The 100M-row high-cardinality case alone (int64 key with 1M distinct values; ≈ 1 GB input,
# a few GB peak with all peers): slow, not part of `make bench`.
bench-huge: $(VENV)/.built $(VENV)/.dev
	$(BIN)/python -m pytest benches/test_bench_segments.py -q -p no:cacheprovider \
		--benchmark-enable --bench-size huge -k "int_many or floor"

clean:
	rm -rf $(VENV) target dist
