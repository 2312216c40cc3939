# Two entry points for a fresh machine with only Python and Rust: `make report` and `make test`.
# Both create .venv, install the project (building the Rust extension in release mode) and its
# dev dependencies from this repository's own files, then do their job.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))
RUST_SOURCES := $(shell find rust -name '*.rs') Cargo.toml rust/core/Cargo.toml rust/python/Cargo.toml

.PHONY: report test check-rust check-python pytest bench-check bench bench-huge clean

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip maturin
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Rebuild the extension in place when Rust sources change (incremental; release profile).
$(VENV)/.built: $(VENV)/.deps $(RUST_SOURCES)
	$(BIN)/maturin develop --release --quiet --skip-install
	touch $@

report: $(VENV)/.built
	$(BIN)/cxmetrics report --sample

test: check-rust check-python pytest bench-check

check-rust: $(VENV)/.built
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	cargo test --quiet -p cxmetrics-core

check-python: $(VENV)/.built
	$(BIN)/ruff check python tests benches tools
	$(BIN)/mypy python
	$(BIN)/python tools/typecheck_docs.py

pytest: $(VENV)/.built
	$(BIN)/python -m pytest -q

# CI's speed check: the 1M-row benchmarks against DuckDB, polars, pyarrow, pandas and scipy,
# measured in one run; fails when a ratio falls below its floor in benches/floors.py.
bench-check: $(VENV)/.built
	$(BIN)/python -m pytest benches -q -p no:cacheprovider --benchmark-enable --bench-size quick \
		--benchmark-columns=median,iqr,rounds

# The issue's 10M-row setting (slower; not part of `make test`).
bench: $(VENV)/.built
	$(BIN)/python -m pytest benches -q -p no:cacheprovider --benchmark-enable --bench-size full \
		--benchmark-columns=median,iqr,rounds

# The 100M-row high-cardinality case alone (int64 key with 1M distinct values; ≈ 1 GB input,
# a few GB peak with all peers): slow, not part of `make bench`.
bench-huge: $(VENV)/.built
	$(BIN)/python -m pytest benches/test_bench_segments.py -q -p no:cacheprovider \
		--benchmark-enable --bench-size huge -k "int_many or floor"

clean:
	rm -rf $(VENV) target
