package dev.kafkaemulator.conformance;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.FileWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * kafka-clients producers and consumer group members for the crash soak (scripts/soak.js), with
 * the same command line, files and stdin protocol as conformance/python/soak.py:
 *
 * <pre>
 * java ... SoakDriver BOOTSTRAP TOPIC OUT_DIR RATE produce:ID:1|0 ... consume:GROUP:MEMBER[:classic|consumer] ...
 * </pre>
 *
 * A producer writes each acknowledged value to OUT_DIR/ID.acks as "SEQ PARTITION OFFSET" in the
 * order its callbacks run (per partition, the order of the acks) and each failed one to
 * OUT_DIR/ID.failed. A consumer writes "c PARTITION OFFSET VALUE" per record and "C PARTITION
 * OFFSET" per accepted commit to OUT_DIR/GROUP.MEMBER.log.
 */
public final class SoakDriver {
    private static final long COMMIT_INTERVAL_MS = 200;

    private static String bootstrap;
    private static String topic;
    private static Path out;
    private static int rate;
    private static volatile boolean stopProducing;
    private static volatile boolean stopConsuming;
    private static final CountDownLatch READY = new CountDownLatch(1);

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        topic = args[1];
        out = Path.of(args[2]);
        rate = Integer.parseInt(args[3]);
        List<Thread> threads = new ArrayList<>();
        for (int i = 4; i < args.length; i++) {
            String[] role = args[i].split(":");
            Runnable body = role[0].equals("produce")
                ? () -> produce(role[1], role[2].equals("1"))
                : () -> consume(role[1], role[2], role.length > 3 ? role[3] : "classic");
            Thread thread = new Thread(() -> {
                try {
                    body.run();
                } catch (RuntimeException e) {
                    say("error " + Thread.currentThread().getName() + " " + e);
                    e.printStackTrace();
                }
            }, role[1]);
            threads.add(thread);
            thread.start();
        }
        READY.countDown();
        say("ready");
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = stdin.readLine()) != null; ) {
            if (line.trim().equals("stop-producing")) stopProducing = true;
            if (line.trim().equals("stop")) break;
        }
        stopProducing = true;
        stopConsuming = true;
        for (Thread thread : threads) thread.join();
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static BufferedWriter writer(String name) {
        try {
            return new BufferedWriter(new FileWriter(out.resolve(name).toFile(), StandardCharsets.UTF_8), 1 << 16);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(BufferedWriter w, String line) {
        try {
            w.write(line);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void close(BufferedWriter w) {
        try {
            w.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void produce(String producerId, boolean idempotent) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("client.id", producerId);
        props.put("acks", "all");
        props.put("enable.idempotence", Boolean.toString(idempotent));
        props.put("linger.ms", "5");
        props.put("retry.backoff.ms", "50");
        props.put("delivery.timeout.ms", "120000");
        props.put("metadata.max.age.ms", "1000");
        // Without idempotence, one request in flight: retries cannot reorder, only duplicate.
        props.put("max.in.flight.requests.per.connection", idempotent ? "5" : "1");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        BufferedWriter acks = writer(producerId + ".acks");
        BufferedWriter failed = writer(producerId + ".failed");
        long[] counts = new long[2];
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            awaitReady();
            long started = System.nanoTime();
            long seq = 0;
            while (!stopProducing) {
                long target = rate == 0 ? seq + 1000 : (System.nanoTime() - started) * rate / 1_000_000_000L + 1;
                while (seq < target && !stopProducing) {
                    long s = seq++;
                    // Callbacks run on the producer's I/O thread, one at a time, in ack order per partition.
                    producer.send(new ProducerRecord<>(topic, "k" + (s % 97), producerId + ":" + s), (metadata, error) -> {
                        if (error == null) {
                            counts[0]++;
                            write(acks, s + " " + metadata.partition() + " " + metadata.offset() + "\n");
                        } else {
                            counts[1]++;
                            write(failed, s + " " + error.getClass().getSimpleName() + "\n");
                        }
                    });
                }
                sleep(10);
            }
            producer.flush();
        }
        close(acks);
        close(failed);
        say("flushed " + producerId + " " + counts[0] + " " + counts[1] + " 0");
    }

    private static void consume(String group, String member, String protocol) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", group);
        props.put("group.protocol", protocol);
        props.put("client.id", group + "." + member);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("metadata.max.age.ms", "1000");
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        BufferedWriter log = writer(group + "." + member + ".log");
        Map<TopicPartition, OffsetAndMetadata> pending = new HashMap<>();
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props);
        // The newest offset sent for commit, per partition: a failed commit is tried again only
        // if nothing newer was sent since (an older offset must not land after a newer one).
        Map<TopicPartition, OffsetAndMetadata> sent = new HashMap<>();
        // Runs in poll or commitSync on this thread, as every other use of log.
        org.apache.kafka.clients.consumer.OffsetCommitCallback committed = (offsets, error) -> {
            offsets.forEach((tp, o) -> {
                if (error == null) write(log, "C " + tp.partition() + " " + o.offset() + "\n");
                else if (o.equals(sent.get(tp)) && consumer.assignment().contains(tp)) pending.putIfAbsent(tp, o);
            });
        };
        Runnable commitSync = () -> {
            if (pending.isEmpty()) return;
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>(pending);
            sent.putAll(pending);
            pending.clear();
            try {
                consumer.commitSync(offsets);
                committed.onComplete(offsets, null);
            } catch (KafkaException e) {
                committed.onComplete(offsets, e);
            }
        };
        try {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    commitSync.run();
                    // The next owner commits them from now on.
                    pending.keySet().removeAll(partitions);
                    sent.keySet().removeAll(partitions);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
            });
            awaitReady();
            long lastCommit = System.currentTimeMillis();
            while (!stopConsuming) {
                try {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        write(log, "c " + r.partition() + " " + r.offset() + " " + r.value() + "\n");
                        pending.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                    if (System.currentTimeMillis() - lastCommit >= COMMIT_INTERVAL_MS && !pending.isEmpty()) {
                        // The consumer protocol's consumer hands a failed commit's callback no offsets.
                        Map<TopicPartition, OffsetAndMetadata> batch = new HashMap<>(pending);
                        consumer.commitAsync(batch, (offsets, error) -> committed.onComplete(batch, error));
                        sent.putAll(pending);
                        pending.clear();
                        lastCommit = System.currentTimeMillis();
                    }
                } catch (KafkaException e) {
                    // A retriable failure the consumer surfaced (a commit refused during a rebalance): poll again.
                }
            }
            commitSync.run();
        } finally {
            consumer.close();
            close(log);
        }
        say("closed " + group + "." + member);
    }

    private static void awaitReady() {
        try {
            READY.await();
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }
}
