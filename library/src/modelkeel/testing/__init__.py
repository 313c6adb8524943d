"""The pytest plugin a generated project's tests use: its fixtures and its assertions (public contract).

Installed with modelkeel (a `pytest11` entry point), so a project's tests need no conftest to get:

    fixtures (session)   project_settings  params.yaml, typed
                         project_data      the training data, validated against the contract
                         project_model     the model for the current params and data (artifacts/ when fresh,
                                           else trained now in a temporary folder: never a stale one)
                         project_metrics   what `evaluate` measures: test metrics, slices, baseline, gates
                         modelkeel_cluster compute.engine dask: the cluster compute.dask names, for the session
    markers              data, quality, parity

On `compute.engine: dask` the fixtures run on the cluster and never gather the data (testing/cluster.py):
project_data is validated there and its `frame` is every row as a lazy Dask DataFrame (`len`, `columns` and
`head` as on pandas; `sample` a seeded pandas sample of at most the `modelkeel_sample_rows` ini option);
project_model and project_metrics are the Dask engine's, the metrics over the whole test split, the parity
test's rows (`project_model.parts`) a seeded sample. The test report's `modelkeel` section names each sample.

The assertions below are true for any data `infer-schema` accepted; each failure names what broke and
the params.yaml key or file to look at.
"""

from .assertions import (
    BrokenRows,
    assert_beats_baseline,
    assert_every_slice_passes,
    assert_onnx_parity,
    assert_primary_metric_passes,
    assert_refused,
    broken_rows,
)

__all__ = [
    "BrokenRows",
    "assert_beats_baseline",
    "assert_every_slice_passes",
    "assert_onnx_parity",
    "assert_primary_metric_passes",
    "assert_refused",
    "broken_rows",
]
