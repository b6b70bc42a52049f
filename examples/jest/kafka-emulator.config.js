// startKafka options for the cluster `preset: 'kafka-emulator'` starts (optional file).
module.exports = {
  numPartitions: 3,
}
