"""The release bundle, the unit that is versioned, checked and served: its file names (`layout`),
`SHA256SUMS` (`checksums`), where it came from (`lineage`), the model card, opening it as one
typed object (`reader`) and `verify`."""
