"""Kafka clients' key partitioners: the hash kernel, the partition calculator and the partition-hash checks."""
