#!/usr/bin/env bash
# npm run test:fleet: the fleet's tests against a real Kafka. Starts a three-broker cluster with
# scripts/kafka.sh (its own run dir and ports, so a development cluster is left alone), runs the
# Kafka tests of crates/laptime-fleet with LAPTIME_REQUIRE_KAFKA=1 (a missing broker fails them
# instead of skipping), the end-to-end fleet test last, and stops the cluster whatever happens. Its last
# line is the end-to-end test's verdict: `fleet: acknowledged N, stored N, lost 0, duplicated 0, ...`.
set -euo pipefail
cd "$(dirname "$0")/.."

export LAPTIME_KAFKA_RUN="${LAPTIME_FLEET_TEST_RUN:-/tmp/laptime-fleet-test}"
port="${LAPTIME_FLEET_TEST_PORT:-39092}"
kafka=(bash scripts/kafka.sh)

start=$SECONDS
"${kafka[@]}" install
# A cluster left by an interrupted run would hold the ports and an old layout.
"${kafka[@]}" clean >/dev/null 2>&1 || true
trap '"${kafka[@]}" stop >/dev/null 2>&1 || true; "${kafka[@]}" clean >/dev/null 2>&1 || true' EXIT
bootstrap="$("${kafka[@]}" start --nodes 3 --port "$port")"
echo "test-fleet: 3 brokers at $bootstrap ($((SECONDS - start)) s)" >&2

export LAPTIME_KAFKA_BOOTSTRAP="$bootstrap"
export LAPTIME_KAFKA_CLUSTER=1
export LAPTIME_KAFKA_SH="$PWD/scripts/kafka.sh"
export LAPTIME_REQUIRE_KAFKA=1
# The workspace with every feature, as `npm test` builds it (failpoints among them: indexer_crash
# aborts indexers at chosen steps, LAPTIME_FAILPOINT), so CI links these tests from that build
# instead of compiling the fleet's crates again for another feature set.
features=(--workspace --all-features)
# ship_option runs a Node app of this checkout (index.js and the addon, as `npm test` builds them).
export LAPTIME_NODE_PACKAGE="$PWD"
cargo test --release "${features[@]}" --test round_trip --test broker_failure --test unreachable --test ship_index --test ingest_kafka --test indexer_restart --test indexer_crash --test ship_option -- --test-threads 1
# The whole fleet last, its output shown; its verdict line is this script's last line.
out="$LAPTIME_KAFKA_RUN/fleet_end_to_end.log"
cargo test --release "${features[@]}" --test fleet_end_to_end -- --nocapture --test-threads 1 2>&1 | tee "$out" >&2
echo "test-fleet: passed in $((SECONDS - start)) s" >&2
grep -o 'fleet: acknowledged .*' "$out"
