#!/usr/bin/env bash
# Development Apache Kafka for the fleet (issue 13): a KRaft cluster (no ZooKeeper) of 1 or 3 nodes on
# 127.0.0.1, built from package registries only: Java and Maven from apt, the Kafka jars from Maven Central.
#
#   kafka.sh install                         Java >= 17 and Maven (apt-get) when missing, then the Kafka jars
#   kafka.sh start [--nodes 1|3] [--port P]  start (formatting the run dir once), wait until every broker
#                                            answers, print the bootstrap string (the only output on stdout)
#   kafka.sh topic NAME [--partitions N]     create a topic (replication = node count) unless it exists
#   kafka.sh kill NODE                       SIGKILL node 1, 2 or 3 (failure tests)
#   kafka.sh restart NODE                    start a stopped node again, wait until it answers
#   kafka.sh stop                            TERM every node of the run dir, KILL after a grace period
#   kafka.sh status | logs NODE | clean      nodes, pids and ports / a node's log path / stop, delete the run dir
#   kafka.sh selftest [--port P]             1 node: 20,000 messages there and back; 3 nodes: SIGKILL one
#                                            mid-produce, restart it, check that nothing acknowledged was lost
#                                            (in RUN-selftest on port 19092, so a running cluster is left alone)
#
# Environment: LAPTIME_KAFKA_HOME (jars; default ~/.cache/laptime/kafka-<version>), LAPTIME_KAFKA_RUN (data,
# logs, pids; default /tmp/laptime-kafka), LAPTIME_KAFKA_PORT (start's first client port, 9092),
# LAPTIME_KAFKA_VERSION (4.4.0), LAPTIME_KAFKA_HEAP (JVM heap flags per node), LAPTIME_KAFKA_WAIT (seconds to
# wait for brokers, 120), LAPTIME_KAFKA_GRACE (seconds between TERM and KILL on stop, 30).
set -euo pipefail

VERSION=${LAPTIME_KAFKA_VERSION:-4.4.0}
# Kafka logs through slf4j 1.7, so the log4j backend needs the 1.7 binding (log4j-slf4j-impl).
LOG4J_VERSION=2.25.5
DEP_PLUGIN_VERSION=3.8.1
KAFKA_HOME=${LAPTIME_KAFKA_HOME:-$HOME/.cache/laptime/kafka-$VERSION}
RUN=${LAPTIME_KAFKA_RUN:-/tmp/laptime-kafka}
DEFAULT_PORT=${LAPTIME_KAFKA_PORT:-9092}
HEAP=${LAPTIME_KAFKA_HEAP:--Xms128m -Xmx256m}
WAIT=${LAPTIME_KAFKA_WAIT:-120}
GRACE=${LAPTIME_KAFKA_GRACE:-30}
LIBS=$KAFKA_HOME/libs
# The marker says which set of jars is complete; a different set (other version) installs again.
STAMP="kafka_2.13 $VERSION, kafka-tools $VERSION, log4j $LOG4J_VERSION"

log() { echo "kafka: $*" >&2; }
# ON_FAIL names a command that undoes a half-done step (start stops the nodes it launched).
ON_FAIL=""
die() {
  echo "kafka: error: $*" >&2
  if [ -n "$ON_FAIL" ]; then
    local undo=$ON_FAIL
    ON_FAIL=""
    $undo
  fi
  exit 1
}

# ---- Java and the jars ----

java_major() { "$1" -version 2>&1 | sed -n '1s/[^"]*"\([0-9]*\).*/\1/p'; }

# The first Java >= 17 (Kafka 4 brokers need it) on JAVA_HOME, PATH or under /usr/lib/jvm: apt can leave an
# older default on PATH next to a newer one.
find_java() {
  local j m
  for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [ -x "$j" ] || continue
    m=$(java_major "$j")
    if [ -n "$m" ] && [ "$m" -ge 17 ]; then
      JAVA=$j
      tool_cmds
      return 0
    fi
  done
  return 1
}

need_java() { find_java || die "no Java >= 17 found (JAVA_HOME, PATH, /usr/lib/jvm); run: bash scripts/kafka.sh install"; }

apt() {
  command -v apt-get >/dev/null || die "apt-get not found: install Java >= 17 and Maven yourself, then run install again"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "installing packages needs root or sudo (neither available)"
    sudo=sudo
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2 || die "apt-get $* failed (output above)"
}

install_packages() {
  local pkgs=()
  find_java || pkgs+=(java)
  command -v mvn >/dev/null || pkgs+=(maven)
  [ ${#pkgs[@]} -gt 0 ] || return 0
  apt update -qq
  if [ "${pkgs[0]}" = java ]; then
    # Debian 12 and Ubuntu ship 17 under its own name (their default may be 11); newer Debian only has a
    # default of 21 or later.
    if apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
      pkgs[0]=openjdk-17-jre-headless
    else
      pkgs[0]=default-jre-headless
    fi
  fi
  log "apt-get install ${pkgs[*]}"
  apt install -y -qq "${pkgs[@]}"
  need_java
  command -v mvn >/dev/null || die "apt installed maven but mvn is not on PATH"
}

write_pom() {
  cat >"$KAFKA_HOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- Written by laptime's scripts/kafka.sh: only lists what a development broker needs. -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>laptime.dev</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- the broker (kafka.Kafka) and the storage formatter -->
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version>
    </dependency>
    <!-- admin, producer and consumer tools; Kafka Connect is not needed and is most of the weight -->
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <!-- pinned: an unpinned plugin prefix resolves to whatever is newest on the day -->
        <plugin>
          <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
          <version>$DEP_PLUGIN_VERSION</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
EOF
}

install() {
  local t0=$SECONDS
  install_packages
  need_java
  mkdir -p "$KAFKA_HOME"
  if [ -f "$LIBS/.complete" ] && [ "$(cat "$LIBS/.complete")" = "$STAMP" ]; then
    log "jars already installed ($STAMP)"
  else
    write_pom
    log "mvn: fetching $STAMP from Maven Central"
    rm -rf "$LIBS.partial"
    # Maven runs on the Java found above (PATH may hold an older one).
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")") mvn -B -q -Dstyle.color=never -f "$KAFKA_HOME/pom.xml" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS.partial" 2>&1 |
      sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2 || # Debian's Maven 3.8 prints colour resets even when quiet
      die "mvn could not fetch the Kafka jars (output above; pom: $KAFKA_HOME/pom.xml)"
    # Move into place only when complete, so an interrupted install is never taken for a finished one.
    rm -rf "$LIBS"
    mv "$LIBS.partial" "$LIBS"
    echo "$STAMP" >"$LIBS/.complete"
  fi
  log "installed in $((SECONDS - t0)) s: $(find "$LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in $LIBS ($("$JAVA" -version 2>&1 | head -1))"
}

need_install() {
  if [ -f "$LIBS/.complete" ] && [ "$(cat "$LIBS/.complete")" = "$STAMP" ]; then need_java; else install; fi
}

# ---- the run dir: RUN/cluster.env (layout), RUN/nodeI/{server.properties,data/,broker.log,pid} ----

NODES=""
PORT=""
CLUSTER_ID=""

# Read, not sourced: the run dir is under /tmp by default.
load_layout() {
  local key value
  [ -f "$RUN/cluster.env" ] || return 1
  while IFS='=' read -r key value; do
    case "$key" in
      NODES) NODES=$value ;;
      PORT) PORT=$value ;;
      CLUSTER_ID) CLUSTER_ID=$value ;;
    esac
  done <"$RUN/cluster.env"
  if ! [[ "$NODES" =~ ^[13]$ && "$PORT" =~ ^[0-9]+$ && "$CLUSTER_ID" =~ ^[A-Za-z0-9_-]+$ ]]; then
    die "$RUN/cluster.env is damaged (NODES, PORT, CLUSTER_ID); 'bash scripts/kafka.sh clean' starts afresh"
  fi
}
need_layout() { load_layout || die "no cluster in $RUN (start one: bash scripts/kafka.sh start)"; }

node_dir() { echo "$RUN/node$1"; }
node_log() { echo "$RUN/node$1/broker.log"; }
client_port() { echo $((PORT + 100 * ($1 - 1))); }
controller_port() { echo $(($(client_port "$1") + 1)); }
bootstrap() {
  local i bs=""
  for i in $(seq 1 "$NODES"); do bs+="${bs:+,}127.0.0.1:$(client_port "$i")"; done
  echo "$bs"
}
need_node() {
  if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt "$NODES" ]; then
    die "no node '${1:-}' in $RUN: nodes are 1..$NODES"
  fi
}

pid_of() { cat "$(node_dir "$1")/pid" 2>/dev/null || true; }
# Alive and still our broker: the pid file may outlive the process and the pid be reused; a zombie
# (a SIGKILLed child not yet reaped) shows no arguments.
running() {
  local p args
  p=$(pid_of "$1")
  [ -n "$p" ] && args=$(ps -o args= -p "$p" 2>/dev/null) && [[ "$args" == *"$(node_dir "$1")/server.properties"* ]]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
check_ports() {
  local p
  for p in "$(client_port "$1")" "$(controller_port "$1")"; do
    if port_in_use "$p"; then
      die "port $p (node $1) is already in use on 127.0.0.1: stop what listens there or choose another --port"
    fi
  done
}

write_configs() {
  mkdir -p "$RUN"
  cat >"$RUN/broker-log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
EOF
  # Tools print their results on stdout; their own complaints go to stderr, warnings and worse only.
  cat >"$RUN/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

write_node_properties() {
  local i=$1 dir voters="" j rf=1 isr=1
  dir=$(node_dir "$i")
  for j in $(seq 1 "$NODES"); do voters+="${voters:+,}$j@127.0.0.1:$(controller_port "$j")"; done
  # Three nodes: every write on three replicas and acknowledged by two, so one node can die without
  # losing or refusing acknowledged writes.
  if [ "$NODES" = 3 ]; then rf=3 isr=2; fi
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(client_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$i")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
# Internal topics as durable as user topics; fewer partitions than the default 50 so that the first
# consumer group does not wait for 150 replicas to be created on a laptop.
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# Tests start consumers one after another; the 3 s default delay would only slow them down.
group.initial.rebalance.delay.ms=0
# TERM comes only from stop, which takes every node down: handing leadership to nodes that are going away
# too waits for a controller quorum that may already be gone (the last node then hung until KILLed).
controlled.shutdown.enable=false
# The log cleaner takes its dedupe buffer (128 MiB by default) from the heap when it starts: with a
# 256 MiB heap that ran out of memory at start-up (seen under load). Compacted topics here are tiny.
log.cleaner.dedupe.buffer.size=16777216
EOF
}

# Kafka's own command-line tools, on the installed jars (arrays, so that `timeout` can run them). Admin
# tools start faster without the optimizing JIT; clients keep it.
tool_cmds() {
  TOOL=("$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
    -Dlog4j2.configurationFile="$RUN/tools-log4j2.properties" -cp "$LIBS/*")
  CLIENT=("$JAVA" -Xmx512m -Dlog4j2.configurationFile="$RUN/tools-log4j2.properties" -cp "$LIBS/*")
}
tool() { "${TOOL[@]}" "$@"; }
client() { "${CLIENT[@]}" "$@"; }

format_node() {
  local dir
  dir=$(node_dir "$1")
  [ -f "$dir/data/meta.properties" ] && return 0
  tool kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$dir/server.properties" >>"$(node_log "$1")" 2>&1 ||
    die "formatting node $1's storage failed; see $(node_log "$1")"
}

launch_node() {
  local i=$1 dir p
  dir=$(node_dir "$i")
  if running "$i"; then
    log "node $i already running (pid $(pid_of "$i"))"
    return 0
  fi
  check_ports "$i"
  # stdin, stdout and stderr away from the caller, so that `bs=$(kafka.sh start)` returns.
  # shellcheck disable=SC2086 # HEAP holds several flags
  nohup "$JAVA" $HEAP -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$RUN/broker-log4j2.properties" -cp "$LIBS/*" \
    kafka.Kafka "$dir/server.properties" >>"$(node_log "$i")" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  # No job notice ("Killed") from this shell when a test SIGKILLs the node.
  disown $!
  log "node $i: pid $(pid_of "$i"), port $(client_port "$i"), log $(node_log "$i")"
}

died() {
  die "node $1 exited while starting; the end of its log $(node_log "$1"):
$(tail -n 15 "$(node_log "$1")" | sed 's/^/  /')"
}

# Waits until each node given is a registered, unfenced broker answering API requests: the metadata that
# Kafka's own BrokerApiVersionsCommand lists (a fenced broker or one still catching up is not in it).
wait_ready() {
  local t0=$SECONDS i out missing
  for i in "$@"; do
    # Cheap check first: the JVM-based one below costs a core-second per try.
    until port_in_use "$(client_port "$i")"; do
      running "$i" || died "$i"
      [ $((SECONDS - t0)) -lt "$WAIT" ] || die "node $i: port $(client_port "$i") not open after $WAIT s; see $(node_log "$i")"
      sleep 0.5
    done
  done
  while :; do
    out=$(timeout 60 "${TOOL[@]}" org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$(bootstrap)" 2>/dev/null || true)
    missing=()
    for i in "$@"; do
      running "$i" || died "$i"
      grep -q "(id: $i " <<<"$out" || missing+=("$i")
    done
    [ ${#missing[@]} -gt 0 ] || break
    if [ $((SECONDS - t0)) -ge "$WAIT" ]; then
      die "node(s) ${missing[*]} not answering after $WAIT s; see $(for i in "${missing[@]}"; do node_log "$i"; done | tr '\n' ' ')"
    fi
    sleep 1
  done
  log "ready: node(s) $* answer after $((SECONDS - t0)) s"
}

# ---- commands ----

start() {
  local nodes="" port="" i
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes=${2:-} && shift 2 ;;
      --port) port=${2:-} && shift 2 ;;
      *) die "start: unknown argument '$1' (usage: start [--nodes 1|3] [--port P])" ;;
    esac
  done
  [ -z "$nodes" ] || [ "$nodes" = 1 ] || [ "$nodes" = 3 ] || die "start: --nodes must be 1 or 3, not '$nodes'"
  [ -z "$port" ] || { [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65000 ]; } ||
    die "start: --port must be a number from 1024 to 65000, not '$port'"
  if load_layout; then
    # The data is formatted for this layout (node ids, controller addresses): it cannot change under it.
    if [ -n "$nodes" ] && [ "$nodes" != "$NODES" ] || [ -n "$port" ] && [ "$port" != "$PORT" ]; then
      die "$RUN holds a $NODES-node cluster on port $PORT; use that, or 'bash scripts/kafka.sh clean' to start afresh"
    fi
  else
    NODES=${nodes:-1}
    PORT=${port:-$DEFAULT_PORT}
  fi
  # Ports first, so that a clash leaves nothing behind.
  for i in $(seq 1 "$NODES"); do
    running "$i" || check_ports "$i"
  done
  need_install
  write_configs
  if [ -z "$CLUSTER_ID" ]; then
    CLUSTER_ID=$(tool kafka.tools.StorageTool random-uuid 2>/dev/null) || die "kafka.tools.StorageTool random-uuid failed"
  fi
  for i in $(seq 1 "$NODES"); do
    write_node_properties "$i"
    format_node "$i"
  done
  printf 'NODES=%s\nPORT=%s\nCLUSTER_ID=%s\n' "$NODES" "$PORT" "$CLUSTER_ID" >"$RUN/cluster.env"
  ON_FAIL=stop_after_failed_start
  for i in $(seq 1 "$NODES"); do launch_node "$i"; done
  # shellcheck disable=SC2046 # one argument per node
  wait_ready $(seq 1 "$NODES")
  ON_FAIL=""
  bootstrap >"$RUN/bootstrap"
  bootstrap
}

topic() {
  local name=${1:-} partitions=3 out
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --partitions) partitions=${2:-} && shift 2 ;;
      *) die "topic: unknown argument '$1' (usage: topic NAME [--partitions N])" ;;
    esac
  done
  [[ "$name" =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "topic: a name of 1 to 249 letters, digits, '.', '_' or '-' is required, not '$name'"
  [[ "$partitions" =~ ^[1-9][0-9]*$ ]] || die "topic: --partitions must be a positive number, not '$partitions'"
  need_layout
  need_java
  out=$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" --create --if-not-exists \
    --topic "$name" --partitions "$partitions" --replication-factor "$NODES" 2>&1) ||
    die "creating topic $name failed: $out"
  log "topic $name: ${out:-exists already}"
}

kill_node() {
  need_layout
  need_node "${1:-}"
  running "$1" || die "node $1 is not running (log: $(node_log "$1"))"
  kill -KILL "$(pid_of "$1")"
  while running "$1"; do sleep 0.1; done
  log "node $1 (pid $(pid_of "$1")) SIGKILLed"
}

restart_node() {
  need_layout
  need_node "${1:-}"
  need_install
  write_configs
  launch_node "$1"
  wait_ready "$1"
}

any_running() {
  local dir
  for dir in "$RUN"/node*; do
    [ -d "$dir" ] && running "${dir##*node}" && return 0
  done
  return 1
}

stop() {
  local dir i pids=() t0=$SECONDS
  for dir in "$RUN"/node*; do
    [ -d "$dir" ] || continue
    i=${dir##*node}
    if running "$i"; then
      pids+=("$i")
      kill -TERM "$(pid_of "$i")"
    fi
  done
  # A clean shutdown lets the next start skip log recovery; the grace period bounds the wait.
  for i in "${pids[@]}"; do
    while running "$i" && [ $((SECONDS - t0)) -lt "$GRACE" ]; do sleep 0.2; done
    if running "$i"; then
      log "node $i ignored TERM for $GRACE s, sending KILL (log: $(node_log "$i"))"
      kill -KILL "$(pid_of "$i")"
    fi
  done
  rm -f "$RUN"/node*/pid
  if [ ${#pids[@]} -gt 0 ]; then log "stopped node(s) ${pids[*]} in $((SECONDS - t0)) s"; else log "no node running in $RUN"; fi
}

stop_after_failed_start() {
  log "start failed: stopping the nodes of $RUN (their logs stay)"
  stop
}

status() {
  local i
  need_layout
  echo "cluster in $RUN: $NODES node(s), bootstrap $(bootstrap)"
  for i in $(seq 1 "$NODES"); do
    if running "$i"; then
      echo "node $i: running, pid $(pid_of "$i"), port $(client_port "$i"), controller $(controller_port "$i")"
    else
      echo "node $i: stopped, port $(client_port "$i"), controller $(controller_port "$i")"
    fi
  done
}

logs() {
  need_layout
  need_node "${1:-}"
  node_log "$1"
}

clean() {
  stop
  rm -rf "$RUN"
  log "removed $RUN"
}

# ---- selftest ----

consume() { # consume TOPIC MAX OUT: values of up to MAX messages from the beginning (consumer group)
  client org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$(bootstrap)" --topic "$1" \
    --group "selftest-$1" --from-beginning --max-messages "$2" --timeout-ms 20000 >"$3" 2>>"$RUN/selftest.log" || true
}

sorted() { LC_ALL=C sort -u "$1"; } # distinct lines, in the order comm expects

selftest() {
  local t0=$SECONDS port=19092 n one three acked errors got lost dup sent killed_at
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port=${2:-} && shift 2 ;;
      *) die "selftest: unknown argument '$1' (usage: selftest [--port P])" ;;
    esac
  done
  # A run dir of its own: a development cluster in RUN stays untouched.
  RUN=$RUN-selftest
  install
  clean
  # Global: the EXIT trap runs after this function's locals are gone.
  work=$(mktemp -d)
  trap 'any_running && stop; rm -rf "$work"' EXIT

  # One node: every line produced (acks=all) comes back exactly once.
  n=20000
  start --nodes 1 --port "$port" >/dev/null
  topic st1 --partitions 3
  seq 1 "$n" >"$work/lines1"
  client org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$(bootstrap)" --topic st1 \
    --command-property acks=all <"$work/lines1" 2>>"$RUN/selftest.log" || die "1 node: console producer failed; see $RUN/selftest.log"
  consume st1 "$n" "$work/got1"
  sorted "$work/lines1" >"$work/sent1"
  sorted "$work/got1" >"$work/uniq1"
  one="1 node: sent $n, consumed $(wc -l <"$work/got1")"
  if ! cmp -s "$work/uniq1" "$work/sent1" || [ "$(wc -l <"$work/got1")" -ne "$n" ]; then
    die "$one, $(comm -23 "$work/sent1" "$work/uniq1" | wc -l) missing (logs: $(node_log 1), $RUN/selftest.log)"
  fi
  log "$one"
  clean

  # Three nodes, RF 3, min ISR 2: node 2 is SIGKILLed while the producer runs, then restarted.
  start --nodes 3 --port "$port" >/dev/null
  topic st3 --partitions 6
  # How the fleet's shippers produce: idempotent, acks=all, retrying until the delivery timeout (the tool's
  # own default is no retries, which turns every leader change into failed sends).
  printf '%s\n' enable.idempotence=true retries=2147483647 delivery.timeout.ms=120000 >"$work/producer.properties"
  : >"$work/acks3"
  client org.apache.kafka.tools.VerifiableProducer --bootstrap-server "$(bootstrap)" --topic st3 \
    --max-messages "$n" --throughput 2500 --acks -1 --command-config "$work/producer.properties" \
    >"$work/acks3" 2>>"$RUN/selftest.log" &
  local producer=$!
  until [ "$(grep -c producer_send_success "$work/acks3" || true)" -ge $((n * 2 / 5)) ]; do
    kill -0 "$producer" 2>/dev/null || die "3 nodes: the producer ended before node 2 was killed; see $RUN/selftest.log"
    sleep 0.2
  done
  killed_at=$(grep -c producer_send_success "$work/acks3" || true)
  kill_node 2
  wait "$producer" || die "3 nodes: the producer failed; see $RUN/selftest.log"
  restart_node 2
  # Acknowledged values, and everything the producer tried (an unacknowledged send may still be stored).
  grep producer_send_success "$work/acks3" | sed 's/.*"value":"\([0-9]*\)".*/\1/' >"$work/acks3.values"
  sorted "$work/acks3.values" >"$work/acked3"
  acked=$(wc -l <"$work/acked3")
  errors=$(grep -c producer_send_error "$work/acks3" || true)
  sent=$((acked + errors))
  consume st3 "$sent" "$work/got3"
  got=$(wc -l <"$work/got3")
  sorted "$work/got3" >"$work/uniq3"
  lost=$(comm -23 "$work/acked3" "$work/uniq3" | wc -l)
  dup=$((got - $(wc -l <"$work/uniq3")))
  three="3 nodes: acknowledged $acked of $n ($errors failed), node 2 SIGKILLed after $killed_at, consumed $got, lost $lost, duplicated $dup"
  log "$three"
  log "memory (RSS): $(for i in 1 2 3; do echo "node $i $(($(ps -o rss= -p "$(pid_of "$i")") / 1024)) MB"; done | paste -sd, - | sed 's/,/, /g')"
  stop
  echo "kafka selftest: $one; $three; $((SECONDS - t0)) s"
  # With two of three replicas alive every send must succeed; a failed one means the cluster stopped taking writes.
  if [ "$lost" -ne 0 ] || [ "$dup" -ne 0 ] || [ "$acked" -ne "$n" ] || [ "$killed_at" -ge "$n" ]; then
    die "selftest failed (logs: $RUN/node*/broker.log, $RUN/selftest.log)"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  topic) topic "$@" ;;
  kill) kill_node "$@" ;;
  restart) restart_node "$@" ;;
  stop) stop ;;
  status) status ;;
  logs) logs "$@" ;;
  clean) clean ;;
  selftest) selftest "$@" ;;
  *)
    [ -z "$cmd" ] || echo "kafka: error: unknown command '$cmd'" >&2
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
    ;;
esac
