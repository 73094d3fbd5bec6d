// Test producer for tests/test_cross_client.py: writes one record per key (keys read from a file,
// one per line) with kafkajs' default (Java-compatible) or legacy (1.x) partitioner, tagging each
// record with the header `producer: <name>`.
//
//   node producer.js BOOTSTRAP TOPIC KEYS_FILE PRODUCER_NAME default|legacy
const fs = require('fs')
const { Kafka, Partitioners, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, topic, keysFile, name, partitionerName] = process.argv.slice(2)
  const createPartitioner = {
    default: Partitioners.DefaultPartitioner,
    legacy: Partitioners.LegacyPartitioner
  }[partitionerName]
  if (!createPartitioner) {
    console.error('usage: node producer.js BOOTSTRAP TOPIC KEYS_FILE PRODUCER_NAME default|legacy')
    process.exit(2)
  }
  const keys = fs.readFileSync(keysFile, 'utf8').split('\n').filter(key => key.length > 0)
  const kafka = new Kafka({ clientId: name, brokers: [bootstrap], logLevel: logLevel.ERROR })
  const producer = kafka.producer({ createPartitioner })
  await producer.connect()
  for (let start = 0; start < keys.length; start += 1000) {
    const messages = keys.slice(start, start + 1000).map(key => ({
      key, value: `${name}:${key}`, headers: { producer: name }
    }))
    await producer.send({ topic, acks: -1, messages })
  }
  await producer.disconnect()
}

main().catch(error => {
  console.error('producer:', error)
  process.exit(1)
})
