#!/usr/bin/env bash
# Fuzz smoke test (CI and `npm run test:fuzz`): builds every cargo-fuzz target in fuzz/ and runs each
# for FUZZ_SECONDS (default 12: 13 targets, so the phase stays near 5 min on 2 cores) from its
# committed corpus, under memory limits. Prints executions per target; fails on any crash, panic,
# leak, timeout or over-limit allocation (libFuzzer exits non-zero and leaves the input in
# fuzz/artifacts/<target>/). New corpus entries go to a temp dir: the repository stays unchanged.
#
# Toolchain: cargo-fuzz needs nightly for its sanitizer flags. Uses `cargo +nightly` when rustup has
# (or can install) a nightly, with AddressSanitizer; otherwise stable with RUSTC_BOOTSTRAP=1 and no
# sanitizer (safe Rust needs none to catch panics, and the RSS limit still bounds memory).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-12}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
MALLOC_MB="${FUZZ_MALLOC_MB:-512}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
TOOLCHAIN=()
SANITIZER=()
if cargo +nightly --version >/dev/null 2>&1 ||
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
  TOOLCHAIN=(+nightly)
else
  echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1 and no sanitizer"
  export RUSTC_BOOTSTRAP=1
  SANITIZER=(--sanitizer none)
fi
if [ -n "${FUZZ_SANITIZER:-}" ]; then SANITIZER=(--sanitizer "$FUZZ_SANITIZER"); fi

targets=$(cargo "${TOOLCHAIN[@]}" fuzz list)
start=$SECONDS
cargo "${TOOLCHAIN[@]}" fuzz build "${SANITIZER[@]}"
echo "fuzz: built $(echo "$targets" | wc -w) targets in $((SECONDS - start)) s ($(cargo "${TOOLCHAIN[@]}" --version))"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The file-writing targets keep their scratch files under the temp dir: keep them in ours.
export TMPDIR="$scratch"
failed=()
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "$scratch/$t"
  log="$scratch/$t.log"
  if cargo "${TOOLCHAIN[@]}" fuzz run "${SANITIZER[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$MALLOC_MB" \
    -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf 'fuzz: %-13s %s  %10s execs in %s s\n' "$t" "$status" "${execs:-?}" "$SECONDS_EACH"
  if [ "$status" = FAILED ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|out-of-memory|Timeout' "$log" | head -20 || true
  fi
done
echo "fuzz: total $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
