#!/usr/bin/env bash
# Crash/fault campaign (issue 10; `npm run test:faults`): builds the campaign (release) and runs it.
# Concurrent writer processes are SIGKILLed, the disk fills up and frees again (on a size-limited
# tmpfs when this runs as root; skipped with a message otherwise), files are damaged between
# cycles, and every cycle is checked with readers only, with a writer and with verify.
# Exits 1 if any acknowledged event was lost, duplicated, invented or hidden (or a loss went
# unreported); the seed to replay it is printed.
#
# Environment: FAULT_SEED (replay), FAULT_CYCLES (default 200), FAULT_SECONDS (default 270: no new
# cycle starts after that), FAULT_DAMAGE (comma list of damage kinds), FAULT_NO_TMPFS=1,
# FAULT_TMPFS_MB (default 512), FAULT_DEBUG=1 (keep a copy of the store before each check).
set -euo pipefail
cd "$(dirname "$0")/.."
# The workspace's features, as `npm test` builds them: CI reuses that build instead of compiling
# storage and core again for one feature set less.
cargo build --release --workspace --all-features --example fault_campaign
exec target/release/examples/fault_campaign
