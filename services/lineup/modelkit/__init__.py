"""The face models at run time: `backends` is the one way runtime code calls a model (Triton in
production, onnxruntime in tests and tools), `calibration` turns a raw score into an estimated
false-match rate from the model card. Building, evaluating and calibrating the models are tools
(`lineup_tools.modelkit`)."""
