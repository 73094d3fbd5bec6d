// Test producer for tests/test_cross_client.py: writes one record per key (keys read from a file,
// one per line) with kafka-clients' built-in partitioner (murmur2 for keyed records), tagging each
// record with the header `producer: <name>`.
//
//   java -cp build:kafka/target/lib/* Producer BOOTSTRAP TOPIC KEYS_FILE PRODUCER_NAME

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class Producer {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Producer BOOTSTRAP TOPIC KEYS_FILE PRODUCER_NAME");
            System.exit(2);
        }
        String topic = args[1];
        byte[] name = args[3].getBytes(StandardCharsets.UTF_8);
        List<String> keys = Files.readAllLines(Path.of(args[2]), StandardCharsets.UTF_8);

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (String key : keys) {
                ProducerRecord<String, String> record = new ProducerRecord<>(topic, key, args[3] + ":" + key);
                record.headers().add("producer", name);
                producer.send(record, (metadata, error) -> {
                    if (error != null) {
                        System.err.println("producer: " + error);
                        System.exit(1);
                    }
                });
            }
            producer.flush();
        }
    }
}
