package dev.kafkaemulator.conformance;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The client conformance scenario with the Java client at its defaults (idempotent producer,
 * fetch sessions, OffsetForLeaderEpoch validation, {@code partition.assignment.strategy} [range,
 * cooperative-sticky]):
 *
 * <pre>
 * java ... ScenarioDriver BOOTSTRAP PREFIX classic|consumer [ASSIGNMENT_STRATEGY_CLASS]
 * </pre>
 *
 * Each step asserts what it saw and prints one line saying so; a failure prints "FAIL: ..." and
 * exits 1. The last line is "OK" when every step passed.
 */
public final class ScenarioDriver {
    private static final int PARTITIONS = 3;

    private static String bootstrap;
    private static String prefix;
    private static String groupProtocol;
    private static String strategy;

    public static void main(String[] args) {
        bootstrap = args[0];
        prefix = args[1];
        groupProtocol = args[2];
        strategy = args.length > 3 ? args[3] : null;
        // A hung client must not hang the test: fail with what was going on.
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(90_000);
                fail("timed out after 90 s");
            } catch (InterruptedException e) {
                // finished in time
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            run();
        } catch (Throwable e) {
            e.printStackTrace();
            fail(e.toString());
        }
        System.out.println("OK");
        System.out.flush();
        System.exit(0);
    }

    private static void run() throws Exception {
        String topic = prefix + "-events";
        String txnTopic = prefix + "-txn";
        String outTopic = prefix + "-out";
        String group = prefix + "-group";
        String eosGroup = prefix + "-eos-group";
        try (Admin admin = Admin.create(props("admin"))) {
            step("create topics", () -> {
                admin.createTopics(List.of(topic, txnTopic, outTopic).stream().map(t -> new NewTopic(t, PARTITIONS, (short) 1)).toList())
                        .all().get();
                say("created %s, %s and %s with %d partitions", topic, txnTopic, outTopic, PARTITIONS);
            });

            step("produce keyed records with headers", () -> produce(topic, "first", 9));

            step("consume with a group and commit", () -> {
                try (KafkaConsumer<String, String> consumer = groupConsumer(group, topic)) {
                    List<ConsumerRecord<String, String>> got = poll(consumer, 9);
                    expectValues(got, values("first", 9));
                    for (ConsumerRecord<String, String> r : got) {
                        String seq = r.value().substring("first-".length());
                        check(r.key().equals("k" + seq), "record %s has key %s", r.value(), r.key());
                        Header[] headers = r.headers().toArray();
                        check(headers.length == 2 && headers[0].key().equals("source") && str(headers[0].value()).equals("java")
                                && headers[1].key().equals("seq") && str(headers[1].value()).equals(seq),
                                "record %s has headers %s", r.value(), r.headers());
                        check(r.leaderEpoch().isPresent(), "record %s has no leader epoch", r.value());
                    }
                    consumer.commitSync();
                    say("read %d records with their keys and headers, committed", got.size());

                    // While the member is in the group: one member owning the 3 partitions.
                    ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                    check(d.groupState() == GroupState.STABLE, "group %s is %s while consuming", group, d.groupState());
                    check(d.type() == groupType(), "group %s is of type %s", group, d.type());
                    check(d.members().size() == 1 && d.members().iterator().next().assignment().topicPartitions().size() == PARTITIONS,
                            "group %s members: %s", group, d.members());
                    check(d.partitionAssignor().equals(expectedAssignor()), "group %s assignor %s, want %s", group,
                            d.partitionAssignor(), expectedAssignor());
                    say("group %s: %s, %s, assignor %s, 1 member owning %d partitions", group, d.type(), d.groupState(),
                            d.partitionAssignor(), PARTITIONS);
                }
            });

            step("committed offsets", () -> {
                long sum = committedSum(admin, group);
                check(sum == 9, "committed offsets sum to %d, want 9", sum);
                say("the group's committed offsets sum to %d", sum);
            });

            step("a new consumer in the same group resumes from the commit", () -> {
                Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().get();
                produce(topic, "second", 6);
                try (KafkaConsumer<String, String> consumer = groupConsumer(group, topic)) {
                    List<ConsumerRecord<String, String>> got = poll(consumer, 6);
                    expectValues(got, values("second", 6));
                    for (TopicPartition tp : committed.keySet()) {
                        long first = got.stream().filter(r -> r.partition() == tp.partition()).mapToLong(ConsumerRecord::offset)
                                .min().orElse(-1);
                        check(first == -1 || first == committed.get(tp).offset(), "partition %s resumed at %d, committed %d", tp,
                                first, committed.get(tp).offset());
                    }
                    consumer.commitSync();
                    say("resumed: read only the %d records produced after the commit", got.size());
                }
            });

            step("a committed and an aborted transaction, read with read_committed", () -> {
                Properties p = props("txn-producer");
                p.put("transactional.id", prefix + "-txn-id");
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                    producer.initTransactions();
                    // One record per partition in each transaction, so the last committed one on
                    // every partition comes after the aborted one.
                    for (String name : List.of("committed-a", "aborted", "committed-b")) {
                        producer.beginTransaction();
                        for (int part = 0; part < PARTITIONS; part++) {
                            producer.send(new ProducerRecord<>(txnTopic, part, "" + part, name + "-" + part)).get();
                        }
                        if (name.equals("aborted")) producer.abortTransaction();
                        else producer.commitTransaction();
                    }
                }
                List<String> committed = new ArrayList<>(values("committed-a", PARTITIONS));
                committed.addAll(values("committed-b", PARTITIONS));
                List<ConsumerRecord<String, String>> got = readAll(txnTopic, "read_committed", 6);
                expectValues(got, committed);
                List<String> all = new ArrayList<>(committed);
                all.addAll(values("aborted", PARTITIONS));
                List<ConsumerRecord<String, String>> everything = readAll(txnTopic, "read_uncommitted", 9);
                expectValues(everything, all);
                say("read_committed saw %d committed records; read_uncommitted saw all %d", got.size(), everything.size());
            });

            step("consume-transform-produce in a transaction with the group's offsets", () -> {
                Properties p = props("eos-producer");
                p.put("transactional.id", prefix + "-eos-id");
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
                        KafkaConsumer<String, String> consumer = groupConsumer(eosGroup, topic, Map.of("isolation.level", "read_committed"))) {
                    producer.initTransactions();
                    List<ConsumerRecord<String, String>> got = poll(consumer, 15);
                    producer.beginTransaction();
                    Map<TopicPartition, OffsetAndMetadata> offsets = new java.util.HashMap<>();
                    for (ConsumerRecord<String, String> r : got) {
                        producer.send(new ProducerRecord<>(outTopic, r.key(), "copy-" + r.value()));
                        offsets.merge(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1),
                                (a, b) -> a.offset() > b.offset() ? a : b);
                    }
                    producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    producer.commitTransaction();
                }
                long sum = committedSum(admin, eosGroup);
                check(sum == 15, "offsets committed with the transaction sum to %d, want 15", sum);
                List<String> want = new ArrayList<>(values("copy-first", 9));
                want.addAll(values("copy-second", 6));
                List<ConsumerRecord<String, String>> copies = readAll(outTopic, "read_committed", 15);
                expectValues(copies, want);
                say("copied %d records in one transaction with the group's offsets (sum %d)", copies.size(), sum);
            });

            step("admin: list and describe topics", () -> {
                Set<String> names = admin.listTopics().names().get();
                check(names.containsAll(List.of(topic, txnTopic, outTopic)), "listTopics lacks our topics: %s", names);
                Map<String, TopicDescription> described = admin.describeTopics(List.of(topic, txnTopic, outTopic)).allTopicNames()
                        .get();
                for (TopicDescription d : described.values()) {
                    check(d.partitions().size() == PARTITIONS, "%s has %d partitions", d.name(), d.partitions().size());
                    check(!d.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"), "%s has no topic id", d.name());
                    d.partitions().forEach(pi -> check(pi.leader() != null && pi.replicas().size() == 1 && pi.isr().size() == 1,
                            "%s partition %d: leader %s replicas %s isr %s", d.name(), pi.partition(), pi.leader(), pi.replicas(),
                            pi.isr()));
                }
                // By topic id too (Metadata v12 naming the topic by id beside an empty name).
                org.apache.kafka.common.Uuid id = described.get(topic).topicId();
                TopicDescription byId = admin.describeTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(id)))
                        .allTopicIds().get().get(id);
                check(byId.name().equals(topic) && byId.partitions().size() == PARTITIONS, "topic %s described as %s", id, byId);
                // DeleteRecords moves the log start offset; earliest and earliest-local (no tiered
                // storage here) both follow it.
                TopicPartition first = new TopicPartition(txnTopic, 0);
                admin.deleteRecords(Map.of(first, org.apache.kafka.clients.admin.RecordsToDelete.beforeOffset(1))).all().get();
                long earliest = admin.listOffsets(Map.of(first, OffsetSpec.earliest())).all().get().get(first).offset();
                long earliestLocal = admin.listOffsets(Map.of(first, OffsetSpec.earliestLocal())).all().get().get(first).offset();
                check(earliest == 1 && earliestLocal == 1, "after deleteRecords %s starts at %d, locally at %d", first, earliest,
                        earliestLocal);
                ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
                String cleanup = config.get("cleanup.policy").value();
                check(cleanup.equals("delete"), "cleanup.policy of %s is %s", topic, cleanup);
                Map<TopicPartition, OffsetSpec> latest = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
                for (int part = 0; part < PARTITIONS; part++) latest.put(new TopicPartition(topic, part), OffsetSpec.latest());
                long end = admin.listOffsets(latest).all().get().values().stream().mapToLong(i -> i.offset()).sum();
                check(end == 15, "end offsets of %s sum to %d, want 15", topic, end);
                say("listed %d topics; %s (id %s): %d partitions, cleanup.policy=%s, end offsets sum %d; %s starts at %d after deleteRecords",
                        names.size(), topic, id, PARTITIONS, cleanup, end, first, earliest);
            });

            step("admin: list and describe groups", () -> {
                Collection<GroupListing> listed = admin.listGroups().all().get();
                GroupListing l = listed.stream().filter(g -> g.groupId().equals(group)).findFirst().orElse(null);
                check(l != null, "listGroups lacks %s: %s", group, listed);
                check(l.type().equals(java.util.Optional.of(groupType())), "listed %s of type %s", group, l.type());
                check(l.protocol().equals("consumer"), "listed %s with protocol %s", group, l.protocol());
                check(l.groupState().equals(java.util.Optional.of(GroupState.EMPTY)), "listed %s in state %s", group, l.groupState());
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                check(d.groupState() == GroupState.EMPTY && d.members().isEmpty(), "described %s: %s with %s", group, d.groupState(),
                        d.members());
                long sum = committedSum(admin, group);
                check(sum == 15, "committed offsets sum to %d, want 15", sum);
                say("group %s: type %s, state %s, committed offsets sum %d", group, d.type(), d.groupState(), sum);
            });

            step("a second member joins and the partitions are shared", () -> {
                String shareGroup = prefix + "-share-group";
                Ownership own = new Ownership();
                try (KafkaConsumer<String, String> a = groupConsumer(shareGroup, topic, Map.of(), own.of("a"))) {
                    pollUntil(List.of(a), () -> own.owned("a") == PARTITIONS, "a to own every partition", new ArrayList<>());
                    try (KafkaConsumer<String, String> b = groupConsumer(shareGroup, topic, Map.of(), own.of("b"))) {
                        List<ConsumerRecord<String, String>> ignored = new ArrayList<>();
                        pollUntil(List.of(a, b), () -> own.owned("a") > 0 && own.owned("b") > 0 && own.owner.size() == PARTITIONS,
                                "a and b to share the partitions", ignored);
                        say("a owns %d partitions, b owns %d", own.owned("a"), own.owned("b"));
                        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(shareGroup)).all().get().get(shareGroup);
                        check(d.groupState() == GroupState.STABLE && d.members().size() == 2, "group %s: %s with %d members",
                                shareGroup, d.groupState(), d.members().size());

                        produce(topic, "third", 6);
                        List<String> readers = new ArrayList<>();
                        List<ConsumerRecord<String, String>> third = new ArrayList<>();
                        pollUntil(List.of(a, b), () -> third.size() >= 6, "the 6 new records", null, (member, r) -> {
                            if (!r.value().startsWith("third-")) return;
                            third.add(r);
                            String owner = own.owner.get(r.partition());
                            check(member.equals(owner), "%s read %s of partition %d owned by %s", member, r.value(), r.partition(), owner);
                            readers.add(member);
                        });
                        expectValues(third, values("third", 6));
                        check(readers.contains("a") && readers.contains("b"), "only %s read the new records", new TreeSet<>(readers));
                    }
                    // b left: a gets every partition back (and is not closed while taking them).
                    pollUntil(List.of(a), () -> own.owned("a") == PARTITIONS, "a to own every partition again", null);
                }
                check(own.violations.isEmpty(), "partitions owned twice: %s", own.violations);
                say("2 members shared the 3 partitions without overlap and each read its own; after b left, a owned them all");
            });
        }
    }

    private interface RecordSink {
        void accept(String member, ConsumerRecord<String, String> record);
    }

    private static void pollUntil(List<KafkaConsumer<String, String>> consumers, java.util.function.BooleanSupplier done, String what,
            List<ConsumerRecord<String, String>> sink) {
        pollUntil(consumers, done, what, sink, null);
    }

    /** Polls the consumers in turn (one thread: the classic members rejoin from poll) until `done`. */
    private static void pollUntil(List<KafkaConsumer<String, String>> consumers, java.util.function.BooleanSupplier done, String what,
            List<ConsumerRecord<String, String>> sink, RecordSink each) {
        long deadline = System.currentTimeMillis() + 30_000;
        while (!done.getAsBoolean()) {
            check(System.currentTimeMillis() < deadline, "timed out waiting for %s", what);
            for (int i = 0; i < consumers.size(); i++) {
                String member = i == 0 ? "a" : "b";
                for (ConsumerRecord<String, String> r : consumers.get(i).poll(Duration.ofMillis(100))) {
                    if (sink != null) sink.add(r);
                    if (each != null) each.accept(member, r);
                }
            }
        }
    }

    private static GroupType groupType() {
        return groupProtocol.equals("consumer") ? GroupType.CONSUMER : GroupType.CLASSIC;
    }

    /** The assignor the group runs: the first of the member's strategies, or the broker's default. */
    private static String expectedAssignor() {
        if (groupProtocol.equals("consumer")) return "uniform";
        return strategy != null && strategy.contains("CooperativeSticky") ? "cooperative-sticky" : "range";
    }

    private static Properties props(String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", prefix + "-" + clientId);
        return p;
    }

    private static void produce(String topic, String name, int count) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props("producer"), new StringSerializer(),
                new StringSerializer())) {
            Map<Integer, Integer> perPartition = new TreeMap<>();
            List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, "k" + i, name + "-" + i);
                r.headers().add("source", "java".getBytes(StandardCharsets.UTF_8));
                r.headers().add("seq", ("" + i).getBytes(StandardCharsets.UTF_8));
                sent.add(producer.send(r));
            }
            for (java.util.concurrent.Future<RecordMetadata> f : sent) perPartition.merge(f.get().partition(), 1, Integer::sum);
            say("produced %d %s records, per partition %s", count, name, perPartition);
        }
    }

    private static KafkaConsumer<String, String> groupConsumer(String group, String topic) {
        return groupConsumer(group, topic, Map.of());
    }

    private static KafkaConsumer<String, String> groupConsumer(String group, String topic, Map<String, String> extra) {
        return groupConsumer(group, topic, extra, null);
    }

    private static KafkaConsumer<String, String> groupConsumer(String group, String topic, Map<String, String> extra,
            ConsumerRebalanceListener also) {
        Properties p = props("consumer");
        p.putAll(extra);
        p.put("group.id", group);
        p.put("group.protocol", groupProtocol);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        if (strategy != null) p.put("partition.assignment.strategy", strategy);
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                if (!partitions.isEmpty()) say("%s revoked %s", p.get("group.id"), sorted(partitions));
                if (also != null) also.onPartitionsRevoked(partitions);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                say("%s assigned %s", p.get("group.id"), sorted(partitions));
                if (also != null) also.onPartitionsAssigned(partitions);
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                say("%s lost %s", p.get("group.id"), sorted(partitions));
                if (also != null) also.onPartitionsLost(partitions);
            }
        });
        return consumer;
    }

    private static TreeSet<String> sorted(Collection<TopicPartition> partitions) {
        return new TreeSet<>(partitions.stream().map(String::valueOf).toList());
    }

    /** Which member owns which partition according to the rebalance listeners; notes any partition
     * given to a member while another still owns it. */
    private static final class Ownership {
        final Map<Integer, String> owner = new java.util.HashMap<>();
        final List<String> violations = new ArrayList<>();

        ConsumerRebalanceListener of(String member) {
            return new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    partitions.forEach(tp -> owner.remove(tp.partition(), member));
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    for (TopicPartition tp : partitions) {
                        String before = owner.put(tp.partition(), member);
                        if (before != null && !before.equals(member)) violations.add(member + " got " + tp + " still owned by " + before);
                    }
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    onPartitionsRevoked(partitions);
                }
            };
        }

        long owned(String member) {
            return owner.values().stream().filter(member::equals).count();
        }
    }

    /** Every record of the topic from the beginning, assigned by hand, at the isolation level. */
    private static List<ConsumerRecord<String, String>> readAll(String topic, String isolation, int count) {
        Properties p = props("reader-" + isolation);
        p.put("isolation.level", isolation);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (int part = 0; part < PARTITIONS; part++) parts.add(new TopicPartition(topic, part));
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            return poll(consumer, count);
        }
    }

    /** Polls until `count` records arrived, then once more briefly to catch any beyond them. */
    private static List<ConsumerRecord<String, String>> poll(KafkaConsumer<String, String> consumer, int count) {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 30_000;
        while (got.size() < count) {
            check(System.currentTimeMillis() < deadline, "timed out after %d of %d records: %s", got.size(), count, valuesOf(got));
            consumer.poll(Duration.ofMillis(200)).forEach(got::add);
        }
        consumer.poll(Duration.ofMillis(300)).forEach(got::add);
        check(got.size() == count, "read %d records, want %d: %s", got.size(), count, valuesOf(got));
        return got;
    }

    private static long committedSum(Admin admin, String group) throws Exception {
        return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().values().stream()
                .mapToLong(OffsetAndMetadata::offset).sum();
    }

    private static List<String> values(String name, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(name + "-" + i);
        return out;
    }

    private static List<String> valuesOf(List<ConsumerRecord<String, String>> records) {
        return records.stream().map(ConsumerRecord::value).sorted().collect(Collectors.toList());
    }

    private static void expectValues(List<ConsumerRecord<String, String>> got, List<String> want) {
        List<String> sorted = want.stream().sorted().toList();
        check(valuesOf(got).equals(sorted), "read %s, want %s", valuesOf(got), sorted);
    }

    private static String str(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void step(String name, Step body) throws Exception {
        long start = System.currentTimeMillis();
        body.run();
        say("step \"%s\" passed in %d ms", name, System.currentTimeMillis() - start);
    }

    private static void check(boolean ok, String format, Object... args) {
        if (!ok) fail(String.format(format, args));
    }

    private static synchronized void say(String format, Object... args) {
        System.out.println(String.format(format, args));
        System.out.flush();
    }

    private static void fail(String message) {
        say("FAIL: %s", message);
        System.exit(1);
    }
}
