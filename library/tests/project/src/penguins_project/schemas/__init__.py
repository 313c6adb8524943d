"""Data contracts: one pandera DataFrameModel per dataset, named by `data.schema` in params.yaml.

`infer-schema` writes a starting module here for a new dataset; edit it to tighten the checks.
"""
