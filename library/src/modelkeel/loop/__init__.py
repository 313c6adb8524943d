"""The self-healing retraining loop: ingest and validate new batches (`ingest`), measure drift (`drift`,
`monitor`), decide (`decide`), train and judge a challenger (`challenger`), and say what happened
(`outcome`, `report`); `run` chains the steps and `demo` plays the demo batches through them."""
