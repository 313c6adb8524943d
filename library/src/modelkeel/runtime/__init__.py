"""Scoring without scikit-learn: the model's input signature (`signature`), the onnxruntime session
(`session`), scoring files (`scoring`) and `load_model` for applications (`model`)."""
