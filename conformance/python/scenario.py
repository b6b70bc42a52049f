"""The conformance scenario with confluent-kafka (librdkafka inside).

Usage: python scenario.py <bootstrap host:port> [classic|consumer]
The consumers join with the given group protocol: classic (the default) or consumer (KIP-848).
Every step asserts what it saw and prints one line; any mismatch exits non-zero.
"""

import os
import sys
import time

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupType,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
    libversion,
    version,
)
from confluent_kafka.admin import AdminClient, NewTopic

STEP_DEADLINE_S = 20.0
GROUP_PROTOCOL = sys.argv[2] if len(sys.argv) > 2 else "classic"


START = time.monotonic()
_last = [START]


def step(name, detail):
    """Prints a step with how long it took and the time since the scenario started."""
    now = time.monotonic()
    print(f"step {name}: {detail} ({int((now - _last[0]) * 1000)} ms, at {int((now - START) * 1000)} ms)", flush=True)
    _last[0] = now


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def check_equal(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def text(data):
    return None if data is None else data.decode()


def result(futures):
    """Waits for every future of an admin call; raises the first error."""
    return {name: future.result(timeout=STEP_DEADLINE_S) for name, future in futures.items()}


def consume_until(bootstrap, group, topic, done, what, isolation="read_committed"):
    """A group member reads `topic` from its committed offsets (or the beginning) until
    done(records) holds. Returns the open consumer and the records in arrival order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": GROUP_PROTOCOL,
            "client.id": "conformance-python",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + STEP_DEADLINE_S
    while not done(records):
        if time.monotonic() > deadline:
            consumer.close()
            raise AssertionError(f"timed out waiting for {what}; got {records!r}")
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            raise KafkaException(message.error())
        records.append(
            {
                "partition": message.partition(),
                "offset": message.offset(),
                "key": text(message.key()),
                "value": text(message.value()),
                "headers": {k: text(v) for k, v in (message.headers() or [])},
            }
        )
    return consumer, records


def next_offsets(records):
    """The next offset to read of each partition in `records`, as a commit names it."""
    offsets = {}
    for r in records:
        offsets[r["partition"]] = max(offsets.get(r["partition"], 0), r["offset"] + 1)
    return offsets


def commit(consumer, topic, offsets):
    committed = consumer.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in sorted(offsets.items())],
        asynchronous=False,
    )
    for tp in committed:
        check(tp.error is None, f"commit of partition {tp.partition} failed: {tp.error}")


def main():
    bootstrap = sys.argv[1]
    run = f"{os.getpid()}-{int(time.time() * 1000)}"
    topic = f"conformance-python-{run}"
    txn_topic = f"conformance-python-txn-{run}"
    group = f"conformance-python-{GROUP_PROTOCOL}-group-{run}"
    print(f"confluent-kafka {version()}, librdkafka {libversion()[0]}, group protocol {GROUP_PROTOCOL}", flush=True)

    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "conformance-python"})

    # 1. A three-partition topic (and a one-partition topic for the transactions).
    result(admin.create_topics([NewTopic(topic, 3, 1), NewTopic(txn_topic, 1, 1)], operation_timeout=10))
    step("create-topic", f"{topic} with 3 partitions")

    # 2. Keyed messages with headers.
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "conformance-python"})
    delivered = []

    def on_delivery(err, message):
        check(err is None, f"delivery failed: {err}")
        delivered.append((message.partition(), message.offset()))

    first = [
        {"key": f"key-{i}", "value": f"value-{i}", "headers": {"trace": f"t-{i}", "client": "confluent-kafka"}}
        for i in range(6)
    ]
    for m in first:
        producer.produce(topic, key=m["key"], value=m["value"], headers=list(m["headers"].items()), on_delivery=on_delivery)
    check_equal(producer.flush(STEP_DEADLINE_S), 0, "messages left undelivered")
    check_equal(len(delivered), len(first), "delivery reports")
    step("produce", f"{len(first)} keyed messages with headers")

    # 3. A consumer group reads them all and commits.
    consumer, records = consume_until(bootstrap, group, topic, lambda rs: len(rs) >= len(first), "the produced messages")
    seen = sorted(({k: r[k] for k in ("key", "value", "headers")} for r in records), key=lambda r: r["key"])
    check_equal(seen, first, "the group sees every message with its key, value and headers")
    committed = next_offsets(records)
    commit(consumer, topic, committed)
    consumer.close()
    step("consume-commit", f"group {group} saw {len(records)} messages and committed {sorted(committed.items())}")

    # 4. After the commit, one more message on each partition; a new member of the same group
    # resumes from the commit (auto.offset.reset=earliest would replay everything if it were lost).
    second = [
        {"partition": p, "key": f"after-{p}", "value": f"after-value-{p}", "headers": {"trace": f"after-{p}"}}
        for p in range(3)
    ]
    for m in second:
        producer.produce(
            topic, partition=m["partition"], key=m["key"], value=m["value"], headers=list(m["headers"].items())
        )
    check_equal(producer.flush(STEP_DEADLINE_S), 0, "messages left undelivered")
    consumer, records = consume_until(
        bootstrap, group, topic, lambda rs: len(rs) >= len(second), "the messages produced after the commit"
    )
    resumed = sorted(({k: r[k] for k in ("partition", "key", "value", "headers")} for r in records), key=lambda r: r["partition"])
    check_equal(resumed, second, "the restarted consumer sees only the messages produced after the commit")
    for r in records:
        check(r["offset"] >= committed.get(r["partition"], 0), f"offset {r['offset']} of partition {r['partition']} is before the commit")
    commit(consumer, topic, next_offsets(records))
    consumer.close()
    step("resume", f"a new consumer of {group} saw only {[r['key'] for r in resumed]}")

    # 5. A committed, an aborted and another committed transaction; read_committed sees only the
    # committed records, read_uncommitted sees the aborted ones too (so they were really written).
    tx = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "conformance-python",
            "transactional.id": f"conformance-python-tx-{run}",
        }
    )
    tx.init_transactions(STEP_DEADLINE_S)
    for values, commit_it in (
        (["committed-1", "committed-2"], True),
        (["aborted-1", "aborted-2"], False),
        (["committed-3"], True),
    ):
        tx.begin_transaction()
        for value in values:
            tx.produce(txn_topic, key="tx", value=value)
        if commit_it:
            tx.commit_transaction(STEP_DEADLINE_S)
        else:
            tx.flush(STEP_DEADLINE_S)  # the aborted records reach the log before the abort marker
            tx.abort_transaction(STEP_DEADLINE_S)
    has_last = lambda rs: any(r["value"] == "committed-3" for r in rs)
    consumer, records = consume_until(bootstrap, f"{group}-read-committed", txn_topic, has_last, "committed-3 (read_committed)")
    consumer.close()
    check_equal([r["value"] for r in records], ["committed-1", "committed-2", "committed-3"], "read_committed sees only committed transactions")
    committed_values = [r["value"] for r in records]
    consumer, records = consume_until(
        bootstrap, f"{group}-read-uncommitted", txn_topic, has_last, "committed-3 (read_uncommitted)", isolation="read_uncommitted"
    )
    consumer.close()
    check_equal(
        [r["value"] for r in records],
        ["committed-1", "committed-2", "aborted-1", "aborted-2", "committed-3"],
        "read_uncommitted sees the aborted records too",
    )
    step("transactions", f"read_committed saw {committed_values}")

    # 6. Admin: topics and groups.
    metadata = admin.list_topics(timeout=STEP_DEADLINE_S)
    check(topic in metadata.topics and txn_topic in metadata.topics, f"list_topics includes both topics: {list(metadata.topics)}")
    check_equal(len(metadata.brokers), 1, "brokers")
    broker_id = next(iter(metadata.brokers))
    [description] = result(admin.describe_topics(TopicCollection([topic]), request_timeout=10)).values()
    check_equal(description.name, topic, "described topic")
    check_equal(
        sorted((p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr]) for p in description.partitions),
        [(p, broker_id, [broker_id], [broker_id]) for p in range(3)],
        "the topic has partitions 0-2 led by the broker",
    )
    listed = admin.list_consumer_groups(request_timeout=10).result()
    check_equal(listed.errors, [], "list_consumer_groups errors")
    mine = [g for g in listed.valid if g.group_id == group]
    check(mine, f"list_consumer_groups includes {group}: {[g.group_id for g in listed.valid]}")
    check_equal(mine[0].state, ConsumerGroupState.EMPTY, "listed group state")
    group_type = ConsumerGroupType.CONSUMER if GROUP_PROTOCOL == "consumer" else ConsumerGroupType.CLASSIC
    check_equal(mine[0].type, group_type, "listed group type")
    [described] = result(admin.describe_consumer_groups([group], request_timeout=10)).values()
    check_equal(described.group_id, group, "described group")
    check_equal(described.state, ConsumerGroupState.EMPTY, "every member left")
    check_equal(described.members, [], "members")
    check_equal(described.type, group_type, "described group type")
    [offsets] = result(admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])], request_timeout=10
    )).values()
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{group}-probe"})
    watermarks = {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3)}
    probe.close()
    check_equal(
        {tp.partition: tp.offset for tp in offsets.topic_partitions},
        watermarks,
        "the group committed up to the high watermark of every partition",
    )
    check_equal(sum(watermarks.values()), len(first) + len(second), "every message produced is in the log once")
    step("admin", f"listed {len(metadata.topics)} topics, described {topic} (3 partitions), group {group} Empty with offsets at the high watermarks")

    print(f"scenario passed in {int((time.monotonic() - START) * 1000)} ms", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or GROUP_PROTOCOL not in ("classic", "consumer"):
        print("usage: python scenario.py <host:port> [classic|consumer]", file=sys.stderr)
        sys.exit(2)
    try:
        main()
    except Exception as err:  # every failure, assertion or client error, fails the scenario
        import traceback

        traceback.print_exc()
        print(f"scenario failed: {err!r}", file=sys.stderr)
        sys.exit(1)
