package dev.kafkaemulator.conformance;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.ShareMemberDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Drives Java share consumers (KIP-932, {@code KafkaShareConsumer}, explicit acknowledgement) for
 * kafka-emulator's node tests. Commands on stdin, one per line; one JSON event per line on stdout:
 *
 * <pre>
 * share NAME GROUP TOPIC [key=value ...]   start a share consumer on its own thread, polling
 * close NAME                               close() it -> "closed"
 * describe GROUP                           Admin.describeShareGroups -> "described"
 * config GROUP NAME VALUE                  incrementalAlterConfigs on the GROUP resource, then
 *                                          describeConfigs of NAME -> "config" (or "failed")
 * offsets GROUP                            listShareGroupOffsets -> "offsets"
 * alter GROUP TOPIC PARTITION OFFSET       alterShareGroupOffsets -> "altered" (or "failed")
 * deleteoffsets GROUP TOPIC                deleteShareGroupOffsets -> "deletedOffsets"
 * list                                     listGroups -> "listed"
 * delete GROUP                             deleteShareGroups -> "deleted" (or "failed")
 * exit
 * </pre>
 *
 * What a consumer does with a record is named by its value: "release-once" is released at its
 * first delivery and accepted after; "release-always" is always released; "reject" is rejected;
 * "hold-once" is held at its first delivery (the consumer stops polling, so the acquisition lock
 * runs out) and accepted after; anything else is accepted. Each delivery is a "record" event with
 * its delivery count; poll() failing is an "error" event (the consumer stops).
 */
public final class ShareDriver {
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
                    case "share" -> start(words);
                    case "close" -> WORKERS.get(words[1]).closing = true;
                    case "describe" -> describe(words[1]);
                    case "config", "offsets", "alter", "deleteoffsets", "list", "delete" -> admin(words);
                    case "exit" -> {
                        WORKERS.values().forEach(w -> w.closing = true);
                        for (Worker w : WORKERS.values()) w.thread.join(30_000);
                        System.exit(0);
                    }
                    default -> emit("error", null, Map.of("message", "unknown command " + words[0]));
                }
            } catch (Exception e) {
                emit("error", null, Map.of("type", e.getClass().getSimpleName(), "message", String.valueOf(e.getMessage())));
            }
        }
        System.exit(0);
    }

    private static void start(String[] words) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("client.id", words[1]);
        props.put("group.id", words[2]);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("share.acknowledgement.mode", "explicit");
        for (int i = 4; i < words.length; i++) {
            String[] kv = words[i].split("=", 2);
            props.put(kv[0], kv[1]);
        }
        Worker w = new Worker(words[1], words[3], props);
        WORKERS.put(words[1], w);
        w.thread.start();
    }

    private static void describe(String group) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(props)) {
            ShareGroupDescription d = admin.describeShareGroups(List.of(group))
                .describedGroups().get(group).get(30, TimeUnit.SECONDS);
            List<String> members = new ArrayList<>();
            for (ShareMemberDescription m : d.members()) {
                List<String> partitions = new ArrayList<>();
                for (TopicPartition tp : m.assignment().topicPartitions()) partitions.add(String.valueOf(tp.partition()));
                members.add("{\"clientId\":" + quote(m.clientId()) + ",\"memberEpoch\":" + m.memberEpoch()
                    + ",\"partitions\":[" + String.join(",", partitions) + "]}");
            }
            emit("described", null, Map.of(
                "group", d.groupId(),
                "state", String.valueOf(d.groupState()),
                "groupEpoch", d.groupEpoch(),
                "members", new Raw("[" + String.join(",", members) + "]")));
        }
    }

    /** The admin commands; a refusal is a "failed" event naming the exception. */
    private static void admin(String[] w) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(props)) {
            switch (w[0]) {
                case "config" -> {
                    ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, w[1]);
                    AlterConfigOp set = new AlterConfigOp(new ConfigEntry(w[2], w[3]), AlterConfigOp.OpType.SET);
                    admin.incrementalAlterConfigs(Map.of(group, List.of(set))).all().get(30, TimeUnit.SECONDS);
                    ConfigEntry e = admin.describeConfigs(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group).get(w[2]);
                    emit("config", null, Map.of("name", e.name(), "value", e.value(), "source", String.valueOf(e.source())));
                }
                case "offsets" -> {
                    Map<TopicPartition, OffsetAndMetadata> offsets = admin
                        .listShareGroupOffsets(Map.of(w[1], new ListShareGroupOffsetsSpec()))
                        .partitionsToOffsetAndMetadata(w[1]).get(30, TimeUnit.SECONDS);
                    List<String> out = new ArrayList<>();
                    offsets.forEach((tp, o) -> out.add("{\"partition\":" + tp.partition() + ",\"offset\":" + (o == null ? -1 : o.offset()) + "}"));
                    emit("offsets", null, Map.of("offsets", new Raw("[" + String.join(",", out) + "]")));
                }
                case "alter" -> {
                    TopicPartition tp = new TopicPartition(w[2], Integer.parseInt(w[3]));
                    admin.alterShareGroupOffsets(w[1], Map.of(tp, Long.parseLong(w[4]))).all().get(30, TimeUnit.SECONDS);
                    emit("altered", null, Map.of());
                }
                case "deleteoffsets" -> {
                    admin.deleteShareGroupOffsets(w[1], Set.of(w[2])).all().get(30, TimeUnit.SECONDS);
                    emit("deletedOffsets", null, Map.of());
                }
                case "list" -> {
                    List<String> out = new ArrayList<>();
                    for (GroupListing g : admin.listGroups().all().get(30, TimeUnit.SECONDS)) {
                        out.add("{\"group\":" + quote(g.groupId()) + ",\"type\":" + quote(String.valueOf(g.type().orElse(null)))
                            + ",\"state\":" + quote(String.valueOf(g.groupState().orElse(null))) + "}");
                    }
                    emit("listed", null, Map.of("groups", new Raw("[" + String.join(",", out) + "]")));
                }
                case "delete" -> {
                    admin.deleteShareGroups(List.of(w[1])).all().get(30, TimeUnit.SECONDS);
                    emit("deleted", null, Map.of());
                }
                default -> throw new IllegalArgumentException(w[0]);
            }
        } catch (ExecutionException e) {
            emit("failed", null, Map.of("command", w[0], "type", e.getCause().getClass().getSimpleName(), "message", String.valueOf(e.getCause().getMessage())));
        }
    }

    /** One share consumer on its own thread, polling until told to close. */
    private static final class Worker {
        final String name;
        final String topic;
        final Properties props;
        final Thread thread;
        volatile boolean closing;
        boolean holding;

        Worker(String name, String topic, Properties props) {
            this.name = name;
            this.topic = topic;
            this.props = props;
            this.thread = new Thread(this::run, "share-" + name);
        }

        void run() {
            try (KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(props)) {
                consumer.subscribe(List.of(topic));
                emit("subscribed", name, Map.of());
                while (!closing) {
                    if (holding) {
                        Thread.sleep(20);
                        continue;
                    }
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        int count = r.deliveryCount().map(Short::intValue).orElse(-1);
                        emit("record", name, Map.of(
                            "partition", r.partition(),
                            "offset", r.offset(),
                            "value", r.value(),
                            "deliveryCount", count));
                        if (holding) continue;
                        switch (r.value()) {
                            case "release-once" -> consumer.acknowledge(r, count == 1 ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT);
                            case "release-always" -> consumer.acknowledge(r, AcknowledgeType.RELEASE);
                            case "reject" -> consumer.acknowledge(r, AcknowledgeType.REJECT);
                            case "hold-once" -> {
                                if (count == 1) holding = true;
                                else consumer.acknowledge(r, AcknowledgeType.ACCEPT);
                            }
                            default -> consumer.acknowledge(r, AcknowledgeType.ACCEPT);
                        }
                    }
                    if (holding) emit("holding", name, Map.of());
                }
            } catch (Exception e) {
                emit("error", name, Map.of("type", e.getClass().getSimpleName(), "message", String.valueOf(e.getMessage())));
                return;
            }
            emit("closed", name, Map.of());
        }
    }

    // ---- JSON lines: strings quoted, numbers as they are, Raw as given ----

    private record Raw(String json) {}

    private static synchronized void emit(String event, String consumer, Map<String, Object> fields) {
        StringBuilder b = new StringBuilder("{\"event\":").append(quote(event));
        if (consumer != null) b.append(",\"consumer\":").append(quote(consumer));
        fields.forEach((k, v) -> {
            b.append(',').append(quote(k)).append(':');
            if (v instanceof Number) b.append(v);
            else if (v instanceof Raw raw) b.append(raw.json());
            else b.append(quote(String.valueOf(v)));
        });
        System.out.println(b.append('}'));
        System.out.flush();
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            if (c == '"' || c == '\\') b.append('\\').appendCodePoint(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", c));
            else b.appendCodePoint(c);
        });
        return b.append('"').toString();
    }

    private ShareDriver() {}
}
