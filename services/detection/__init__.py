"""The `detection` service: finds, measures and aligns faces (lineup.v1.DetectionService).

Shape: `__main__` (entrypoint: wires everything) -> `settings` (typed config) -> `servicer` (gRPC Detect)
and `stage` (the `lineup.images` consumer) -> `faces` (domain: FaceDetail, quality filter, crops) ->
`detector`/`align`/`quality` (the models' pre/post-processing)
-> Triton (through `lineup.modelkit.backends.TracedBackend`).
"""
