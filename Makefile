# Thin wrappers over cargo and chatport subcommands. See README.md.
CARGO ?= cargo
CHATPORT = target/release/chatport
SAMPLE ?= fixtures/slack/sample-export
OUT ?= out

.PHONY: all build release test lint fmt demo extract validate stats schemas bench-extract bench-transform bench-emulator bench-load fuzz clean

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release -p chatport-cli

## The second README command: every test of the workspace.
test:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The first README command: the sample export through the whole pipeline (extract →
## transform → load → verify → complete, for Google Chat and Microsoft Teams) against the
## embedded emulator with generated test credentials.
demo: release
	$(CHATPORT) demo --export $(SAMPLE) --out $(OUT)/demo
	$(CHATPORT) stats $(OUT)/demo/canonical

extract: release
	$(CHATPORT) extract $(EXPORT) --out $(OUT)/canonical

validate: release
	$(CHATPORT) validate $(OUT)/canonical

stats: release
	$(CHATPORT) stats $(OUT)/canonical

## Regenerate the committed JSON Schemas from the Rust types.
schemas:
	UPDATE_SCHEMAS=1 $(CARGO) test -p chatport-model --test schemas_fresh

## Extraction benchmark: 1,000,000-message generated zip; prints messages/s, peak RSS, floor ratio
## (MESSAGES, SHAPE and RUNS override the size, the shape and the 3 runs of which the fastest counts).
bench-extract:
	$(CARGO) build --release -p chatport-cli -p chatport-bench
	target/release/chatport-bench extract-bench --messages $${MESSAGES:-1000000} $${SHAPE:+--shape $$SHAPE} $${RUNS:+--runs $$RUNS}

## Transform benchmark: plans the benchmark export (extracted and kept by extract-bench) for both destinations.
bench-transform:
	$(CARGO) build --release -p chatport-cli -p chatport-bench
	target/release/chatport-bench extract-bench --messages $${MESSAGES:-1000000} --keep --floor-runs 1 --runs 1
# The generated users (seed 1) are at acme-1.example.com: the importer on that domain makes
# them Workspace users (not external ones posted by the app).
	/usr/bin/time -f "transform chat: %e s wall, %U s user, %S s sys, %M KB peak RSS" $(CHATPORT) transform bench-out/extract-$${MESSAGES:-1000000}-seed1 --to chat --importer admin@acme-1.example.com --out bench-out/plan-chat --json > bench-out/transform-chat.json
	/usr/bin/time -f "transform teams: %e s wall, %U s user, %S s sys, %M KB peak RSS" $(CHATPORT) transform bench-out/extract-$${MESSAGES:-1000000}-seed1 --to teams --fallback-user 00000000-0000-4000-8000-00000000f411 --out bench-out/plan-teams --json > bench-out/transform-teams.json
	@grep -h '"source_messages"' bench-out/transform-chat.json bench-out/transform-teams.json

## Emulator speed: accepted Chat message creates per second with quotas off.
bench-emulator:
	$(CARGO) run --release -p chatport-emulator --example loadgen

## Loader speed: share of the quota-bound rate across 50 containers (emulator time sped up),
## and operations per second with quotas off.
bench-load:
	$(CARGO) test --release -p chatport-load --test throughput -- --ignored --nocapture

## Fuzz the markup compiler (nightly toolchain + `cargo install cargo-fuzz`): each target runs
## FUZZ_SECONDS (default 300) from a corpus seeded with every message text in fixtures/.
fuzz:
	python3 crates/chatport-transform/fuzz/seed.py
	cd crates/chatport-transform && for t in mrkdwn rich_text; do \
	  cargo +nightly fuzz run $$t fuzz/corpus/$$t -- -max_total_time=$${FUZZ_SECONDS:-300} || exit 1; done

clean:
	rm -rf $(OUT) bench-out
