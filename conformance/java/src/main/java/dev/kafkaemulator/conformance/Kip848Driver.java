package dev.kafkaemulator.conformance;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Drives Java consumers using the consumer group protocol of KIP-848 ({@code group.protocol=consumer})
 * for kafka-emulator's node tests. It reads commands on stdin, one per line, and prints one JSON
 * event per line on stdout:
 *
 * <pre>
 * consumer NAME GROUP TOPIC [key=value ...]   start a consumer (its own thread, polling)
 * commit NAME                                 commitSync() of its positions -> "committed"
 * close NAME                                  close() (leaves the group) -> "closed"
 * describe GROUP                              Admin.describeConsumerGroups -> "described"
 * list                                        Admin.listGroups -> "listed"
 * exit
 * </pre>
 *
 * Consumers report "assigned", "revoked" and "lost" from their rebalance listener, "record" for
 * each record, and "error" when poll() throws (then they stop).
 */
public final class Kip848Driver {
    private static final Map<String, Worker> WORKERS = new ConcurrentHashMap<>();
    private static String bootstrap;

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        emit("ready", null, Map.of());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] words = line.trim().split("\\s+");
            try {
                switch (words[0]) {
                    case "consumer" -> startConsumer(words);
                    case "commit" -> worker(words[1]).commands.add(Worker::commit);
                    case "close" -> worker(words[1]).commands.add(Worker::close);
                    case "describe" -> describe(words[1]);
                    case "list" -> list();
                    case "exit" -> {
                        WORKERS.values().forEach(w -> w.commands.add(Worker::close));
                        for (Worker w : WORKERS.values()) w.thread.join(30_000);
                        System.exit(0);
                    }
                    default -> emit("error", null, Map.of("message", str("unknown command " + words[0])));
                }
            } catch (Exception e) {
                emit("error", null, Map.of("type", str(e.getClass().getSimpleName()), "message", str(String.valueOf(e.getMessage()))));
            }
        }
        System.exit(0);
    }

    private static Worker worker(String name) {
        Worker w = WORKERS.get(name);
        if (w == null) throw new IllegalArgumentException("no consumer " + name);
        return w;
    }

    private static void startConsumer(String[] words) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("client.id", words[1]);
        props.put("group.id", words[2]);
        props.put("group.protocol", "consumer");
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("auto.offset.reset", "earliest");
        props.put("enable.auto.commit", "false");
        for (int i = 4; i < words.length; i++) {
            String[] kv = words[i].split("=", 2);
            props.put(kv[0], kv[1]);
        }
        Worker w = new Worker(words[1], words[3], props);
        WORKERS.put(words[1], w);
        w.thread.start();
    }

    private static Admin admin() {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        return Admin.create(props);
    }

    private static void describe(String group) throws Exception {
        try (Admin admin = admin()) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group))
                .describedGroups().get(group).get(30, TimeUnit.SECONDS);
            List<String> members = new ArrayList<>();
            for (MemberDescription m : d.members()) {
                members.add(obj(Map.of(
                    "memberId", str(m.consumerId()),
                    "clientId", str(m.clientId()),
                    "memberEpoch", String.valueOf(m.memberEpoch().orElse(-1)),
                    "partitions", partitions(m.assignment().topicPartitions()))));
            }
            emit("described", null, Map.of(
                "group", str(group),
                "type", str(String.valueOf(d.type())),
                "state", str(String.valueOf(d.groupState())),
                "groupEpoch", String.valueOf(d.groupEpoch().orElse(-1)),
                "assignor", str(d.partitionAssignor()),
                "members", "[" + String.join(",", members) + "]"));
        }
    }

    private static void list() throws Exception {
        try (Admin admin = admin()) {
            List<String> groups = new ArrayList<>();
            for (GroupListing g : admin.listGroups().all().get(30, TimeUnit.SECONDS)) {
                groups.add(obj(Map.of(
                    "group", str(g.groupId()),
                    "type", str(String.valueOf(g.type().orElse(null))),
                    "protocol", str(g.protocol()))));
            }
            emit("listed", null, Map.of("groups", "[" + String.join(",", groups) + "]"));
        }
    }

    /** One consumer on its own thread: it polls all the time and runs commands between polls. */
    private static final class Worker implements ConsumerRebalanceListener {
        final String name;
        final String topic;
        final Properties props;
        final ConcurrentLinkedQueue<java.util.function.Consumer<Worker>> commands = new ConcurrentLinkedQueue<>();
        final Thread thread;
        KafkaConsumer<String, String> consumer;
        volatile boolean running = true;

        Worker(String name, String topic, Properties props) {
            this.name = name;
            this.topic = topic;
            this.props = props;
            this.thread = new Thread(this::run, "consumer-" + name);
        }

        void run() {
            consumer = new KafkaConsumer<>(props);
            consumer.subscribe(List.of(topic), this);
            emit("subscribed", name, Map.of());
            while (running) {
                java.util.function.Consumer<Worker> command;
                while (running && (command = commands.poll()) != null) command.accept(this);
                if (!running) break;
                try {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(50))) {
                        emit("record", name, Map.of(
                            "partition", String.valueOf(r.partition()),
                            "offset", String.valueOf(r.offset()),
                            "value", str(r.value())));
                    }
                } catch (Exception e) {
                    emit("error", name, Map.of("type", str(e.getClass().getSimpleName()), "message", str(String.valueOf(e.getMessage()))));
                    running = false;
                    try {
                        consumer.close(Duration.ofSeconds(5));
                    } catch (Exception ignored) {
                        // Already failing.
                    }
                }
            }
        }

        void commit() {
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (TopicPartition tp : consumer.assignment()) {
                offsets.put(tp, new OffsetAndMetadata(consumer.position(tp)));
            }
            try {
                consumer.commitSync(offsets);
                Map<String, String> byPartition = new TreeMap<>();
                offsets.forEach((tp, o) -> byPartition.put(String.valueOf(tp.partition()), String.valueOf(o.offset())));
                emit("committed", name, Map.of("offsets", obj(byPartition)));
            } catch (Exception e) {
                emit("error", name, Map.of("type", str(e.getClass().getSimpleName()), "message", str(String.valueOf(e.getMessage()))));
            }
        }

        void close() {
            running = false;
            consumer.close();
            emit("closed", name, Map.of());
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            emit("assigned", name, Map.of("partitions", partitions(partitions)));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            emit("revoked", name, Map.of("partitions", partitions(partitions)));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            emit("lost", name, Map.of("partitions", partitions(partitions)));
        }
    }

    // ---- JSON output, by hand to stay dependency-free ----

    private static synchronized void emit(String event, String consumer, Map<String, String> fields) {
        Map<String, String> all = new TreeMap<>(fields);
        all.put("event", str(event));
        if (consumer != null) all.put("consumer", str(consumer));
        all.put("at", String.valueOf(System.currentTimeMillis()));
        System.out.println(obj(all));
        System.out.flush();
    }

    private static String partitions(Collection<TopicPartition> partitions) {
        List<String> out = new ArrayList<>();
        partitions.stream().map(TopicPartition::partition).sorted().forEach(p -> out.add(String.valueOf(p)));
        return "[" + String.join(",", out) + "]";
    }

    private static String obj(Map<String, String> fields) {
        List<String> out = new ArrayList<>();
        fields.forEach((k, v) -> out.add(str(k) + ":" + v));
        return "{" + String.join(",", out) + "}";
    }

    private static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    private Kip848Driver() {}
}
