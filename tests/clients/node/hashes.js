// Prints kafkajs' own murmur2 hashes (default and legacy partitioners) of hex keys read from stdin,
// one "default legacy" pair of int32 per line: the reference tests/test_cross_client.py checks against.
const defaultMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2')
const legacyMurmur2 = require('kafkajs/src/producer/partitioners/legacy/murmur2')

const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(line => line.length > 0)
const out = lines.map(line => {
  const key = Buffer.from(line === '-' ? '' : line, 'hex')
  return `${defaultMurmur2(key)} ${legacyMurmur2(key)}`
})
process.stdout.write(out.join('\n') + '\n')
