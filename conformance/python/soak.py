"""confluent-kafka (librdkafka) producers and consumer group members for the crash soak.

Usage: python soak.py BOOTSTRAP TOPIC OUT_DIR RATE ROLE...
  ROLE is produce:ID:IDEMPOTENT (IDEMPOTENT 1 or 0) or consume:GROUP:MEMBER[:PROTOCOL]
  (PROTOCOL classic, the default, or consumer: KIP-848).
  RATE is records per second per producer (0: as fast as librdkafka takes them).

Every producer sends values "ID:SEQ" (SEQ = 0, 1, ...) with acks=all and writes each
acknowledged one to OUT_DIR/ID.acks as "SEQ PARTITION OFFSET", in the order librdkafka reports
them, and each failed one to OUT_DIR/ID.failed as "SEQ ERROR". Every consumer writes each record
it is given to OUT_DIR/GROUP.MEMBER.log as "c PARTITION OFFSET VALUE" and each offset commit the
coordinator accepted as "C PARTITION OFFSET" (offset = next record to read).

scripts/soak.js drives it over stdin: "stop-producing" makes the producers stop and flush (each
prints "flushed ID ACKED FAILED"); "stop", or stdin closing, makes the consumers commit and
leave. The process prints "ready" once every role runs and exits once every role is done.
"""

import os
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

BOOTSTRAP, TOPIC, OUT, RATE = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ROLES = sys.argv[5:]
COMMIT_INTERVAL_S = 0.2
FLUSH_DEADLINE_S = 180.0

stop_producing = threading.Event()
stop_consuming = threading.Event()
print_lock = threading.Lock()


def say(line):
    with print_lock:
        print(line, flush=True)


def produce(producer_id, idempotent):
    config = {
        "bootstrap.servers": BOOTSTRAP,
        "client.id": producer_id,
        "acks": "all",
        "enable.idempotence": idempotent,
        "linger.ms": 5,
        "retry.backoff.ms": 50,
        "message.timeout.ms": 120000,
        "topic.metadata.refresh.interval.ms": 1000,
    }
    if not idempotent:
        # One request in flight per partition: retries cannot reorder, only duplicate.
        config["max.in.flight.requests.per.connection"] = 1
    producer = Producer(config)
    acks = open(os.path.join(OUT, f"{producer_id}.acks"), "w", buffering=1 << 16)
    failed = open(os.path.join(OUT, f"{producer_id}.failed"), "w")
    counts = {"acked": 0, "failed": 0}
    prefix = f"{producer_id}:"

    def delivered(err, msg):
        seq = msg.value().decode()[len(prefix):]
        if err is None:
            counts["acked"] += 1
            acks.write(f"{seq} {msg.partition()} {msg.offset()}\n")
        else:
            counts["failed"] += 1
            failed.write(f"{seq} {err.name()}\n")

    ready.wait()
    seq = 0
    started = time.monotonic()
    while not stop_producing.is_set():
        target = seq + 1000 if RATE == 0 else int((time.monotonic() - started) * RATE) + 1
        while seq < target and not stop_producing.is_set():
            try:
                producer.produce(TOPIC, key=f"k{seq % 97}", value=f"{prefix}{seq}", on_delivery=delivered)
                seq += 1
            except BufferError:
                producer.poll(0.05)
        producer.poll(0.01)
    left = producer.flush(FLUSH_DEADLINE_S)
    acks.close()
    failed.close()
    say(f"flushed {producer_id} {counts['acked']} {counts['failed']} {left}")


def consume(group, member, protocol="classic"):
    log = open(os.path.join(OUT, f"{group}.{member}.log"), "w", buffering=1 << 16)
    pending = {}
    # The newest offset sent for commit, per partition: a failed commit is tried again only if
    # nothing newer was sent since (an older offset must not land after a newer one).
    sent = {}

    def committed(err, partitions):
        for tp in partitions:
            if err is None and tp.error is None and tp.offset >= 0:
                log.write(f"C {tp.partition} {tp.offset}\n")
            elif sent.get(tp.partition) == tp.offset and tp.partition not in pending and owned(tp.partition):
                pending[tp.partition] = tp.offset

    def owned(partition):
        return any(tp.partition == partition for tp in consumer.assignment())

    consumer = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "client.id": f"{group}.{member}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "on_commit": committed,
        "topic.metadata.refresh.interval.ms": 1000,
        "group.protocol": protocol,
    })

    def commit_pending(asynchronous):
        if not pending:
            return
        offsets = [TopicPartition(TOPIC, p, o) for p, o in pending.items()]
        sent.update(pending)
        pending.clear()
        try:
            consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException:
            pass  # Not committed (a rebalance, a moving coordinator): a later commit covers it.

    def revoked(_consumer, partitions):
        commit_pending(False)
        for tp in partitions:  # The next owner commits them from now on.
            pending.pop(tp.partition, None)
            sent.pop(tp.partition, None)

    consumer.subscribe([TOPIC], on_revoke=revoked)
    ready.wait()
    last_commit = time.monotonic()
    while not stop_consuming.is_set():
        for msg in consumer.consume(500, 0.1):
            if msg.error() is not None:
                continue
            log.write(f"c {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
            pending[msg.partition()] = msg.offset() + 1
        if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
            commit_pending(True)
            last_commit = time.monotonic()
    commit_pending(False)
    consumer.close()
    log.close()
    say(f"closed {group}.{member}")


ready = threading.Event()
threads = []
for role in ROLES:
    kind, *fields = role.split(":")
    target, args = (produce, (fields[0], fields[1] == "1")) if kind == "produce" else (consume, tuple(fields))
    threads.append(threading.Thread(target=target, args=args, daemon=True))
for thread in threads:
    thread.start()
ready.set()
say("ready")

for line in sys.stdin:
    if line.strip() == "stop-producing":
        stop_producing.set()
    elif line.strip() == "stop":
        break
stop_producing.set()
stop_consuming.set()
for thread in threads:
    thread.join()
