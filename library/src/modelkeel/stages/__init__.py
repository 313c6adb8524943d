"""The pipeline's stages in order: validate -> train (with the scikit-learn Pipeline of `features`) ->
evaluate -> export (the ONNX parity gate) -> bundle; `pipeline` runs them and hands each result forward."""
