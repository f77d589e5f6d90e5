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

.PHONY: demo test build localstack-up localstack-down localstack-install fmt lint bench clean-localstack

build:
	$(CARGO) build --locked

demo: localstack-up build
	./target/debug/sagevpc validate plans/studio-vpc.toml
	./target/debug/sagevpc apply plans/studio-vpc.toml --auto-approve
	@echo
	@echo "== re-plan (must be empty) =="
	./target/debug/sagevpc plan plans/studio-vpc.toml --detailed-exitcode

test: localstack-up
	$(CARGO) test --locked --all-targets

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

# Performance benchmark (not part of `make test`): fault proxy with BENCH_LATENCY_MS (50) per
# call, standard and generated large plan, CloudFormation comparison; writes bench/RESULTS.md
# and bench/results.json. See bench/run.py for the other BENCH_* settings.
bench:
	python3 bench/run.py
