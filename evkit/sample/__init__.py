"""The sample incident generator (`evkit synth`)."""
