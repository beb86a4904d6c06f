"""Kafka helpers around Lineup's one message shape, the `Envelope` (proto/lineup/v1/events.proto)."""
