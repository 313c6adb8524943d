"""The data side: reading files (`files`), fingerprinting snapshots (`snapshot`), the pandera contract
(`contract`, with one module per dataset in `schemas/`) and `infer-schema` for a user's own file (`infer`)."""
