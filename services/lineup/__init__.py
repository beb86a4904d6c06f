"""Lineup's shared package: the runtime every service uses (settings, logging, telemetry, Kafka
envelope, object store, gRPC bootstrap, tenancy/auth, audit), the generated protobuf contracts
(`lineup.v1`, produced by `make proto`) and the local stack manager (`lineup.devstack`)."""
