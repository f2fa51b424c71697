#!/usr/bin/env bash
# npm run fleet:demo: a whole fleet on 127.0.0.1. Three Kafka brokers (scripts/kafka.sh), the topic,
# three indexers, the coordinator, the HTTP ingest, two Node services recording with @capture, a
# shipper beside each, and ingest traffic. Prints where everything listens and what to run; Ctrl-C
# (or LAPTIME_FLEET_DEMO_SECONDS) stops it all. Logs and stores are in the run dir.
#
# Environment: LAPTIME_FLEET_DEMO_DIR (run dir, default /tmp/laptime-fleet-demo; emptied at start),
# LAPTIME_FLEET_DEMO_PORT (first broker port, 29092), LAPTIME_FLEET_DEMO_BASE (first HTTP port:
# coordinator, then the three indexers, then the ingest and the dashboard; 7070),
# LAPTIME_FLEET_DEMO_SECONDS (stop after this long; default: run until interrupted).
set -euo pipefail
cd "$(dirname "$0")/.."

run=${LAPTIME_FLEET_DEMO_DIR:-/tmp/laptime-fleet-demo}
port=${LAPTIME_FLEET_DEMO_PORT:-29092}
base=${LAPTIME_FLEET_DEMO_BASE:-7070}
seconds=${LAPTIME_FLEET_DEMO_SECONDS:-}
topic=laptime-demo
export LAPTIME_KAFKA_RUN=$run/kafka
kafka=(bash scripts/kafka.sh)
say() { echo "fleet-demo: $*" >&2; }

pids=()
stop() {
  trap - EXIT INT TERM
  say "stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${kafka[@]}" stop >/dev/null 2>&1 || true
}
trap stop EXIT
trap 'exit 130' INT TERM

fleet=target/release/laptime-fleet
if [ ! -x "$fleet" ]; then
  say "building laptime-fleet (cargo build --release -p laptime-fleet; about 5 minutes the first time)"
  cargo build --release -p laptime-fleet
fi
[ -f native/binding.cjs ] || { say "the addon is not built: run npm ci (or npm run build) first"; exit 1; }

"${kafka[@]}" install
"${kafka[@]}" clean >/dev/null 2>&1 || true
rm -rf "$run"
mkdir -p "$run"
bootstrap=$("${kafka[@]}" start --nodes 3 --port "$port")
"$fleet" topic --brokers "$bootstrap" --topic "$topic" --partitions 6

# start NAME CMD...: run in the background, output to $run/NAME.log
start() {
  local name=$1
  shift
  "$@" >"$run/$name.log" 2>&1 &
  pids+=($!)
}
# wait_line NAME TEXT: until NAME's log has TEXT (its start line), or fail showing the log
wait_line() {
  for _ in $(seq 1 300); do
    grep -q "$2" "$run/$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  say "$1 did not start:"
  cat "$run/$1.log" >&2
  exit 1
}

indexers=()
for k in 1 2 3; do
  start "index$k" "$fleet" index --dir "$run/index$k" --brokers "$bootstrap" --topic "$topic" \
    --group laptime-demo --listen "127.0.0.1:$((base + k))"
  indexers+=("http://127.0.0.1:$((base + k))")
done
for k in 1 2 3; do wait_line "index$k" "laptime-fleet index: store"; done
coordinator="http://127.0.0.1:$base"
start coordinator "$fleet" coordinate --listen "127.0.0.1:$base" --indexers "$(IFS=,; echo "${indexers[*]}")"
start ingest "$fleet" ingest --listen "127.0.0.1:$((base + 4))" --brokers "$bootstrap" --topic "$topic"
wait_line coordinator "listening on"
wait_line ingest "listening on"

# app1 with a `laptime ship` process beside it; app2 ships through its store's `ship` option.
start app1 node --import tsx examples/fleet/app.ts "$run/app1"
wait_line app1 "recording into"
start ship1 "$fleet" ship --dir "$run/app1" --brokers "$bootstrap" --topic "$topic"
start app2 env LAPTIME_FLEET_BIN="$fleet" node --import tsx examples/fleet/app.ts "$run/app2" "$bootstrap" "$topic"
wait_line app2 "recording into"
start post-events node examples/fleet/post-events.mjs "http://127.0.0.1:$((base + 4))"
start dashboard node bin/laptime.cjs serve --coordinator "$coordinator" --port "$((base + 5))"
wait_line dashboard "laptime dashboard"

cat >&2 <<EOF
fleet-demo: running (logs and stores in $run)
  kafka        $bootstrap (3 brokers, topic $topic: 6 partitions, replication 3)
  indexers     ${indexers[*]}
  coordinator  $coordinator
  ingest       http://127.0.0.1:$((base + 4))/v1/events
  apps         2 Node services (examples/fleet/app.ts): one with laptime ship beside it, one with open({ ship })
  dashboard    http://127.0.0.1:$((base + 5))/   (the whole fleet, through the coordinator)
Try, in another terminal:
  npx laptime stats --coordinator $coordinator
  npx laptime query --coordinator $coordinator -g tenant -a count,p99 name:checkout.place
  npx laptime anomalies --coordinator $coordinator --since 10m --bucket 10s
  curl -s $coordinator/v1/query -H 'content-type: application/json' -d '{"groupBy":[{"by":"name"}],"aggregates":["count","p99"]}'
Ctrl-C stops everything.
EOF

if [ -n "$seconds" ]; then
  sleep "$seconds"
  node bin/laptime.cjs stats --coordinator "$coordinator"
else
  wait
fi
