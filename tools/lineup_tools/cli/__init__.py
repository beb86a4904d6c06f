"""`lineup`: the command-line client of the public FaceSearch API (served by ingest).

`main` parses arguments and runs commands, `client` holds the gRPC channel and call metadata,
`render` formats responses as tables or JSON and `bulk` indexes many files concurrently.
"""
