package dev.kafkaemulator.conformance;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterPartitionReassignmentsOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client 4.1 at the newest versions of the admin APIs it shares with the broker: it
 * prints what each call answered, one {@code name=value} line each, and the test asserts them
 * (the same answers on the emulator and on Apache Kafka):
 *
 * <pre>
 * java ... VersionsDriver BOOTSTRAP PREFIX all|cluster|two-brokers|features
 * </pre>
 *
 * {@code features} describes the finalized features and sends updates that change nothing
 * (refused ones, validate-only ones, one at the current level), so it can run on a shared
 * reference broker.
 *
 * {@code cluster} only describes the cluster with its fenced brokers; {@code two-brokers} also
 * reassigns a partition of a new topic to brokers 0 and 1 with replication factor changes
 * disallowed. The last line is "OK".
 */
public final class VersionsDriver {
    private static String bootstrap;
    private static String prefix;

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        prefix = args[1];
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(60_000);
                System.out.println("FAIL: timed out after 60 s");
                System.exit(1);
            } catch (InterruptedException e) {
                // finished in time
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();
        try (Admin admin = Admin.create(props("admin"))) {
            describeCluster(admin);
            if (args[2].equals("all")) {
                all(admin);
            } else if (args[2].equals("features")) {
                features(admin);
            } else if (args[2].equals("downgrade-transactions")) {
                say("downgrade", update(admin, "transaction.version", 1, FeatureUpdate.UpgradeType.SAFE_DOWNGRADE,
                        false));
                say("transactionVersionAfter", admin.describeFeatures().featureMetadata().get(20, TimeUnit.SECONDS)
                        .finalizedFeatures().get("transaction.version").maxVersionLevel());
            } else if (args[2].equals("two-brokers")) {
                String topic = prefix + "-t2";
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(20, TimeUnit.SECONDS);
                waitForLeader(admin, topic);
                say("reassignTwo", reassign(admin, new TopicPartition(topic, 0), List.of(0, 1)));
            }
        }
        System.out.println("OK");
        System.out.flush();
        System.exit(0);
    }

    /** DescribeCluster v2: every broker, fenced ones included. */
    private static void describeCluster(Admin admin) throws Exception {
        var nodes = admin.describeCluster(new DescribeClusterOptions().includeFencedBrokers(true)).nodes()
                .get(20, TimeUnit.SECONDS);
        say("nodes", ids(nodes.stream().map(Node::id).collect(Collectors.toList())));
        say("fenced", ids(nodes.stream().filter(Node::isFenced).map(Node::id).collect(Collectors.toList())));
    }

    private static void all(Admin admin) throws Exception {
        String topic = prefix + "-t";
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(20, TimeUnit.SECONDS);
        TopicPartition tp = new TopicPartition(topic, 0);
        int leader = waitForLeader(admin, topic);

        // A plain producer: Produce v13 names the topic by id.
        try (KafkaProducer<String, String> plain = new KafkaProducer<>(props("plain"), new StringSerializer(),
                new StringSerializer())) {
            say("plainOffset", plain.send(new ProducerRecord<>(topic, "k", "plain")).get(20, TimeUnit.SECONDS)
                    .offset());
        }

        // Open a transaction so ListTransactions has one to list.
        Properties p = props("producer");
        p.put("transactional.id", prefix + "-tx");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(),
                new StringSerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, "k", "v")).get(20, TimeUnit.SECONDS);

            // ListOffsets v9+ (KIP-1005): no tiered storage, so no latest tiered offset.
            say("latestTiered", admin.listOffsets(Map.of(tp, OffsetSpec.latestTiered())).partitionResult(tp)
                    .get(20, TimeUnit.SECONDS).offset());
            say("earliestLocal", admin.listOffsets(Map.of(tp, OffsetSpec.earliestLocal())).partitionResult(tp)
                    .get(20, TimeUnit.SECONDS).offset());

            // ListTransactions v2 (KIP-1152): by transactional id pattern.
            say("txPattern", listTransactions(admin, prefix + "-t.*"));
            say("txNoMatch", listTransactions(admin, prefix + "-t"));
            say("txBadPattern", failure(() -> listTransactions(admin, "(")));
            // AddOffsetsToTxn and TxnOffsetCommit at v4 (transactions v1).
            producer.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(1)),
                    new ConsumerGroupMetadata(prefix + "-txn-group"));
            producer.abortTransaction();
        }

        // Transactions v2 (KIP-890) when transaction.version 2 is finalized: no AddPartitionsToTxn
        // or AddOffsetsToTxn, Produce v12 adds the partition, TxnOffsetCommit v5 the group, and
        // EndTxn v5 bumps the epoch.
        Properties c = props("committer");
        c.put("transactional.id", prefix + "-tx-commit");
        try (KafkaProducer<String, String> committer = new KafkaProducer<>(c, new StringSerializer(),
                new StringSerializer())) {
            committer.initTransactions();
            for (int round = 1; round <= 2; round++) {
                committer.beginTransaction();
                committer.send(new ProducerRecord<>(topic, "k", "committed-" + round)).get(20, TimeUnit.SECONDS);
                committer.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(round)),
                        new ConsumerGroupMetadata(prefix + "-commit-group"));
                committer.commitTransaction();
            }
        }
        say("committedValues", readCommitted(tp, 3));
        say("committedOffset", admin.listConsumerGroupOffsets(prefix + "-commit-group")
                .partitionsToOffsetAndMetadata().get(20, TimeUnit.SECONDS).get(tp).offset());

        // AlterPartitionReassignments v1 (KIP-860): the replicas are checked before the count.
        say("reassign", reassign(admin, tp, List.of(leader, leader + 1000)));

        // DescribeGroups v6 (KIP-1043): an unknown group is an error.
        String missing = prefix + "-missing";
        say("classicMissing", failure(() -> admin.describeClassicGroups(List.of(missing)).all()
                .get(20, TimeUnit.SECONDS)));
    }

    /** The values a read_committed consumer reads from the start of {@code tp}, {@code count} of them. */
    private static String readCommitted(TopicPartition tp, int count) throws Exception {
        Properties p = props("reader");
        p.put("isolation.level", "read_committed");
        p.put("auto.offset.reset", "earliest");
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(),
                new StringDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 20_000;
            while (values.size() < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(java.time.Duration.ofMillis(200))) {
                    values.add(r.value());
                }
            }
        }
        return String.join(",", values);
    }

    /** UpdateFeatures through the admin: refusals, validate-only changes and a no-op. */
    private static void features(Admin admin) throws Exception {
        var finalized = admin.describeFeatures().featureMetadata().get(20, TimeUnit.SECONDS).finalizedFeatures();
        say("transactionVersion", finalized.get("transaction.version").maxVersionLevel());
        say("unknownFeature", update(admin, "no.such.version", 1, FeatureUpdate.UpgradeType.UPGRADE, false));
        say("tooHigh", update(admin, "transaction.version", 3, FeatureUpdate.UpgradeType.UPGRADE, false));
        say("downgradeAsUpgrade", update(admin, "transaction.version", 1, FeatureUpdate.UpgradeType.UPGRADE, false));
        say("safeDowngradeValidated", update(admin, "transaction.version", 1,
                FeatureUpdate.UpgradeType.SAFE_DOWNGRADE, true));
        say("sameLevel", update(admin, "transaction.version", 2, FeatureUpdate.UpgradeType.UPGRADE, false));
        say("metadataVersionZero", update(admin, "metadata.version", 0,
                FeatureUpdate.UpgradeType.UNSAFE_DOWNGRADE, true));
        var after = admin.describeFeatures().featureMetadata().get(20, TimeUnit.SECONDS).finalizedFeatures();
        say("transactionVersionAfter", after.get("transaction.version").maxVersionLevel());
    }

    private static String update(Admin admin, String feature, int level, FeatureUpdate.UpgradeType type,
            boolean validateOnly) {
        return failure(() -> admin.updateFeatures(Map.of(feature, new FeatureUpdate((short) level, type)),
                new UpdateFeaturesOptions().validateOnly(validateOnly)).all().get(20, TimeUnit.SECONDS));
    }

    /** Reassigns {@code tp} to {@code replicas}, replication factor changes disallowed. */
    private static String reassign(Admin admin, TopicPartition tp, List<Integer> replicas) {
        return failure(() -> admin
                .alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(replicas))),
                        new AlterPartitionReassignmentsOptions().allowReplicationFactorChange(false))
                .all().get(20, TimeUnit.SECONDS));
    }

    private static int waitForLeader(Admin admin, String topic) throws Exception {
        long deadline = System.currentTimeMillis() + 20_000;
        for (;;) {
            try {
                var description = admin.describeTopics(List.of(topic)).allTopicNames().get(20, TimeUnit.SECONDS)
                        .get(topic);
                Node leader = description.partitions().get(0).leader();
                if (leader != null) return leader.id();
            } catch (ExecutionException e) {
                if (System.currentTimeMillis() > deadline) throw e;
            }
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("no leader for " + topic);
            Thread.sleep(100);
        }
    }

    private static String listTransactions(Admin admin, String pattern) throws Exception {
        var listed = admin.listTransactions(new ListTransactionsOptions().filterOnTransactionalIdPattern(pattern))
                .all().get(20, TimeUnit.SECONDS);
        Set<String> ids = new TreeSet<>();
        for (TransactionListing t : listed) ids.add(t.transactionalId());
        return String.join(",", ids);
    }

    interface Call {
        Object run() throws Exception;
    }

    /** "ExceptionClass: message" of the call's failure, or "ok". */
    private static String failure(Call call) {
        try {
            call.run();
            return "ok";
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            return cause.getClass().getSimpleName() + ": " + cause.getMessage();
        } catch (Exception e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    private static String ids(List<Integer> ids) {
        List<Integer> sorted = new ArrayList<>(ids);
        sorted.sort(null);
        return sorted.stream().map(String::valueOf).collect(Collectors.joining(","));
    }

    private static Properties props(String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", prefix + "-" + clientId);
        return p;
    }

    private static synchronized void say(String name, Object value) {
        System.out.println(name + "=" + value);
        System.out.flush();
    }
}
