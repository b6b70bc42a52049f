#!/usr/bin/env bash
# Apache Kafka as the reference broker, to run the JS tests against the real thing:
#
#   scripts/apache-kafka.sh start PORT   # resolve Kafka from Maven Central, format a KRaft log dir,
#                                        # start one combined broker+controller on 127.0.0.1:PORT,
#                                        # return once it answers requests
#   KAFKA_BROKERS=127.0.0.1:PORT npm run test:external
#   scripts/apache-kafka.sh stop PORT    # stop it and remove its work dir
#
# Needs Java 17+, Maven and Node. The broker's files (config, data, kafka.log, kafka.pid) live in
# $APACHE_KAFKA_DIR (default: $TMPDIR/apache-kafka-PORT). The controller listens on a free port
# of its own (or $APACHE_KAFKA_CONTROLLER_PORT). $APACHE_KAFKA_PROPERTIES (lines of
# server.properties) is appended to the config, to try a setting by hand. The Kafka version is
# the pom's kafka.version. It is formatted with share.version=1 (share groups on, as the emulator
# has them); APACHE_KAFKA_FEATURES replaces those StorageTool --feature arguments ("" for Kafka's
# defaults).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULE="$HERE/apache-kafka"
LIB="$MODULE/target/lib"
START_DEADLINE_S="${APACHE_KAFKA_START_DEADLINE_S:-120}"
STOP_DEADLINE_S="${APACHE_KAFKA_STOP_DEADLINE_S:-30}"

usage() {
  echo "usage: $0 start|stop PORT" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
ACTION="$1"
PORT="$2"
[[ "$PORT" =~ ^[0-9]+$ ]] || usage
WORK="${APACHE_KAFKA_DIR:-${TMPDIR:-/tmp}/apache-kafka-$PORT}"
PID_FILE="$WORK/kafka.pid"
LOG_FILE="$WORK/kafka.log"

# Copies the broker's runtime jars into target/lib, once per pom (a stamp holds its checksum).
resolve() {
  local sum
  sum="$(sha256sum "$MODULE/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$LIB/.pom.sha256" && "$(cat "$LIB/.pom.sha256")" == "$sum" ]]; then
    return
  fi
  rm -rf "$LIB"
  echo "apache-kafka: resolving Kafka's jars with Maven ($MODULE/pom.xml)"
  local log
  log="$(mktemp)"
  if ! (cd "$MODULE" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies) >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  echo "$sum" >"$LIB/.pom.sha256"
}

free_port() {
  node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })"
}

# Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
cluster_id() {
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if pid="$(running_pid)"; then
    echo "apache-kafka: already running on port $PORT (pid $pid, $WORK)" >&2
    exit 1
  fi
  resolve
  local controller_port="${APACHE_KAFKA_CONTROLLER_PORT:-$(free_port)}"
  rm -rf "$WORK"
  mkdir -p "$WORK/data"

  cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
# The emulator's default broker id, so tests that name the leader hold on both.
node.id=0
controller.quorum.voters=0@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$WORK/data
num.partitions=1
# One broker: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The emulator's default (Kafka's is 3000): a group's first member is assigned at once.
group.initial.rebalance.delay.ms=0
# What the tests' emulators are started with (startKafka options), so the same tests hold here:
# short classic sessions (groupMinSessionTimeoutMs), quick consumer-protocol heartbeats and
# sessions (groupConsumerHeartbeatIntervalMs 200, groupConsumerSessionTimeoutMs 3000).
group.min.session.timeout.ms=100
group.consumer.min.heartbeat.interval.ms=200
group.consumer.heartbeat.interval.ms=200
group.consumer.min.session.timeout.ms=3000
group.consumer.session.timeout.ms=3000
# Share groups (KIP-932), as the emulator starts them in the tests: quick heartbeats and sessions,
# acquisition locks that a test can outlast (groupShareRecordLockDurationMs 2000; Kafka's
# minimum is group.share.min.record.lock.duration.ms, 15000 by default, lowered here).
group.share.min.heartbeat.interval.ms=200
group.share.heartbeat.interval.ms=200
group.share.min.session.timeout.ms=3000
group.share.session.timeout.ms=3000
group.share.min.record.lock.duration.ms=1000
group.share.record.lock.duration.ms=2000
# groupShareDeliveryCountLimit 3 (Kafka's default is 5, its least 2).
group.share.delivery.count.limit=3
# ACL administration needs an authorizer in Kafka (SECURITY_DISABLED without one); the clients
# here are all User:ANONYMOUS on PLAINTEXT, made a super user so nothing is ever denied.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
${APACHE_KAFKA_PROPERTIES:-}
EOF

  local java=(java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    "-Dkafka.logs.dir=$WORK" "-Dlog4j2.configurationFile=$MODULE/log4j2.xml"
    -cp "$LIB/*")

  local features
  read -r -a features <<<"${APACHE_KAFKA_FEATURES---feature share.version=1}"
  # One argument, --cluster-id=ID: an id that starts with '-' would otherwise be read as an option.
  "${java[@]}" kafka.tools.StorageTool format --config "$WORK/server.properties" \
    "--cluster-id=$(cluster_id)" --ignore-formatted "${features[@]}" >"$WORK/format.log" 2>&1 || {
    cat "$WORK/format.log" >&2
    exit 1
  }

  nohup "${java[@]}" kafka.Kafka "$WORK/server.properties" >>"$LOG_FILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"

  if ! node "$MODULE/ready.js" 127.0.0.1 "$PORT" "$((START_DEADLINE_S * 1000))" "$pid"; then
    echo "apache-kafka: broker did not become ready; last lines of $LOG_FILE:" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    stop_broker
    exit 1
  fi
  echo "apache-kafka: Apache Kafka ready on 127.0.0.1:$PORT (controller :$controller_port, pid $pid, $WORK)"
}

# SIGTERM asks for a controlled shutdown; past the deadline, SIGKILL.
stop_broker() {
  local pid
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    local until=$((SECONDS + STOP_DEADLINE_S))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= until)); then
        echo "apache-kafka: pid $pid still running after ${STOP_DEADLINE_S}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  rm -rf "$WORK"
}

case "$ACTION" in
  start) start ;;
  stop)
    stop_broker
    echo "apache-kafka: stopped (port $PORT)"
    ;;
  *) usage ;;
esac
