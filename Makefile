# sagevpc — the two commands a new user needs:
#   make demo   apply plans/studio-vpc.toml to LocalStack, then show that a re-plan is empty
#   make test   run every test (unit, snapshot, mocks, LocalStack integration)
# Both install what they need (LocalStack into localstack/.venv) and start LocalStack.

SHELL := /bin/bash
CARGO ?= cargo

# LocalStack is the embedded default here; the binary itself talks to real AWS unless
# told otherwise (see README).
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
export CARGO_TERM_COLOR ?= never

.PHONY: demo test readme-transcripts build localstack-up localstack-down localstack-install fmt lint bench clean-localstack

# The binary is built together with one small test target: that turns on the
# dev-dependencies' features (aws-smithy-mocks needs the SDK's test-util), so `make demo`
# then `make test` compile the AWS SDK once, not twice. `cargo install --path .` builds a
# binary without them; both behave the same.
build:
	$(CARGO) build --locked --bins --test cli_no_aws

demo: localstack-up build
	./target/debug/sagevpc validate plans/studio-vpc.toml
	./target/debug/sagevpc apply plans/studio-vpc.toml --auto-approve
	@echo
	@echo "== re-plan (must be empty) =="
	./target/debug/sagevpc plan plans/studio-vpc.toml --detailed-exitcode

readme-transcripts: localstack-up build
	python3 docs/transcripts.py

test: localstack-up
	$(CARGO) test --locked --all-targets --no-fail-fast

localstack-install:
	./localstack/install.sh

localstack-up:
	./localstack/up.sh

localstack-down:
	./localstack/down.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Performance benchmark (not part of `make test`; about 20 minutes on 2 CPUs): sagevpc and
# Terraform side by side through bench/throttleproxy.py with EC2's default request buckets
# (cold apply, no-op plan, destroy of the standard and the generated large plan, each run on
# a fresh private LocalStack on 127.0.0.1:4611, never the shared one), plus the comparison with
# LocalStack's CloudFormation; writes bench/RESULTS.md and bench/results.json. Builds with
# `cargo build --locked` and measures target/debug/sagevpc unless BENCH_BIN names a binary.
# BENCH_REPS (3), BENCH_TF_LARGE_REPS (1), BENCH_LATENCY_MS (0), BENCH_ENDPOINT_PENDING_S (0),
# BENCH_LATENCY_SUITE=1 (adds bench/run.py's older 50 ms latency suite): see bench/bench.py.
bench:
	CARGO="$(CARGO)" python3 bench/bench.py
