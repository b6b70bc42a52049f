package dev.kafkaemulator.conformance;

import java.io.FileReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Produces three records with the Java client and reads them back with a consumer group, both
 * configured from a properties file (security.protocol, sasl.*, ssl.*), for kafka-emulator's
 * TLS and SASL tests. Prints one JSON line: {"ok":true,"records":[...]} or
 * {"ok":false,"type":"...","message":"..."} with the first exception.
 *
 * <pre>
 * SecurityDriver BOOTSTRAP TOPIC PROPERTIES_FILE
 * </pre>
 *
 * With DRIVER_TRACE set in the environment, a failure's stack trace goes to stderr.
 */
public final class SecurityDriver {
    public static void main(String[] args) throws Exception {
        Properties common = new Properties();
        try (FileReader reader = new FileReader(args[2])) {
            common.load(reader);
        }
        common.put("bootstrap.servers", args[0]);
        String topic = args[1];
        try {
            Properties p = new Properties();
            p.putAll(common);
            p.put("key.serializer", StringSerializer.class.getName());
            p.put("value.serializer", StringSerializer.class.getName());
            p.put("max.block.ms", "15000");
            p.put("delivery.timeout.ms", "15000");
            p.put("request.timeout.ms", "10000");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                for (String value : List.of("a", "b", "c")) {
                    producer.send(new ProducerRecord<>(topic, value)).get();
                }
            }
            Properties c = new Properties();
            c.putAll(common);
            c.put("key.deserializer", StringDeserializer.class.getName());
            c.put("value.deserializer", StringDeserializer.class.getName());
            c.put("group.id", topic + "-group");
            c.put("auto.offset.reset", "earliest");
            List<String> values = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
                consumer.subscribe(List.of(topic));
                long deadline = System.currentTimeMillis() + 20_000;
                while (values.size() < 3 && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        values.add(r.value());
                    }
                }
            }
            List<String> quoted = new ArrayList<>();
            for (String v : values) quoted.add(str(v));
            System.out.println("{\"ok\":true,\"records\":[" + String.join(",", quoted) + "]}");
        } catch (Exception e) {
            Throwable cause = e;
            // Future.get wraps the client's own exception.
            while (cause instanceof java.util.concurrent.ExecutionException && cause.getCause() != null) {
                cause = cause.getCause();
            }
            if (System.getenv("DRIVER_TRACE") != null) e.printStackTrace();
            System.out.println("{\"ok\":false,\"type\":" + str(cause.getClass().getSimpleName())
                    + ",\"message\":" + str(String.valueOf(cause.getMessage())) + "}");
        }
        System.exit(0);
    }

    private static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
                }
            }
        }
        return b.append('"').toString();
    }

    private SecurityDriver() {}
}
