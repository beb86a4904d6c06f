"""Lineup's shared runtime, the package every service uses: settings, logging, telemetry, the Kafka
envelope and consumers, the object store, the gRPC bootstrap, identity and authorisation, audit, scoring,
the generated protobuf contracts (`lineup.v1`, produced by `make proto`) and the client library
(`lineup.client`). Tools (the local stack, the CLI, model building, the demo) live in `tools/lineup_tools`
and are not part of the service image."""
