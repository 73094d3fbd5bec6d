// Test producer for tests/test_cross_client.py: writes one record per key (keys read from a file,
// one per line) with Sarama's default partitioner, NewHashPartitioner, tagging each record with
// the header `producer: <name>`.
//
//	producer BOOTSTRAP TOPIC KEYS_FILE PRODUCER_NAME
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/IBM/sarama"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: producer BOOTSTRAP TOPIC KEYS_FILE PRODUCER_NAME")
		os.Exit(2)
	}
	bootstrap, topic, keysFile, name := os.Args[1], os.Args[2], os.Args[3], os.Args[4]

	config := sarama.NewConfig()
	config.Version = sarama.V3_6_0_0 // record headers need >= 0.11; Kafka 4 serves >= 2.1
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	config.Producer.Partitioner = sarama.NewHashPartitioner // the default, named for the reader

	producer, err := sarama.NewSyncProducer([]string{bootstrap}, config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
	defer producer.Close()

	file, err := os.Open(keysFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
	defer file.Close()

	header := []sarama.RecordHeader{{Key: []byte("producer"), Value: []byte(name)}}
	var batch []*sarama.ProducerMessage
	send := func() {
		if err := producer.SendMessages(batch); err != nil {
			fmt.Fprintln(os.Stderr, "producer:", err)
			os.Exit(1)
		}
		batch = batch[:0]
	}
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		key := scanner.Text()
		batch = append(batch, &sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(name + ":" + key), Headers: header,
		})
		if len(batch) == 1000 {
			send()
		}
	}
	if len(batch) > 0 {
		send()
	}
}
