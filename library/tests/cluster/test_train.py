"""Training on the cluster: the project's Pipeline, preprocessing fitted on a bounded sample, the model step
trained by LightGBM's or XGBoost's Dask estimator with the pandas engine's parameters and made local as the
pandas engine's class; the scikit-learn models refused; each worker dealt a share of every partition."""

from __future__ import annotations

import pickle
import sys

import cloudpickle
import numpy as np
import pytest

from modelkeel.cluster import train as cluster_train
from modelkeel.cluster.data import read_data
from modelkeel.cluster.session import open_cluster
from modelkeel.cluster.split import split_data
from modelkeel.cluster.train import check_model_type, train_model
from modelkeel.cluster.validate import validate_data
from modelkeel.errors import DataError, SettingsError
from modelkeel.project import build_pipeline
from modelkeel.runtime.signature import model_frame
from modelkeel.settings import GradientBoostingParams, LinearParams, RandomForestParams

from .conftest import dask_settings
from .modelled import for_target, modelled_frame, modelled_project
from .projects import with_data, write

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the counter and the blocker below run on workers


@pytest.fixture(scope="module")
def modelled(tmp_path_factory):
    with modelled_project(tmp_path_factory.mktemp("cluster_train"), "cluster_train_project") as settings:
        yield settings


@pytest.fixture(scope="module")
def validated(modelled, dask_cluster):
    return validate_data(modelled, dask_cluster, read_data(modelled, dask_cluster))


def same_params(found: dict, expected: dict) -> bool:
    """The same keys and values (a gap equals a gap); what only a Dask estimator has (its client, XGBoost's
    collective's configuration, None: the default) left out."""
    found = {k: v for k, v in found.items() if k not in ("client", "coll_cfg")}
    return found.keys() == expected.keys() and all(
        found[k] == v or (isinstance(v, float) and np.isnan(v) and np.isnan(found[k])) for k, v in expected.items()
    )


def trained_on(settings, cluster, validated):
    return train_model(settings, cluster, split_data(settings, cluster, validated.frame))


@pytest.mark.parametrize(
    ("target", "model", "classes"),
    [
        ("label", "lightgbm", ["high", "low", "mid"]),
        ("label", "xgboost", ["high", "low", "mid"]),
        ("flag", "lightgbm", [False, True]),
        ("flag", "xgboost", [False, True]),
        ("value", "lightgbm", None),
        ("value", "xgboost", None),
    ],
)
def test_the_model_step_is_the_pandas_engines_class_with_its_parameters(
    modelled, validated, dask_cluster, target, model, classes
):
    settings = for_target(modelled, target, model)
    built = []
    dask_estimator = cluster_train._dask_estimator
    with pytest.MonkeyPatch.context() as patch:

        def spy(*args):
            estimator = dask_estimator(*args)
            built.append(dict(estimator.get_params()))  # as built: XGBoost's fit sets the multiclass objective
            return estimator

        patch.setattr(cluster_train, "_dask_estimator", spy)
        trained = trained_on(settings, dask_cluster, validated)
    expected = build_pipeline(settings).named_steps["model"]
    # the Dask estimator trained with the pandas engine's parameters: the seed, deterministic, params.yaml's keys
    assert same_params(built[0], expected.get_params())
    fitted = trained.model.named_steps["model"]
    assert type(fitted) is type(expected)
    if model == "lightgbm":  # the local model keeps them (XGBoost's reads its own back from the booster)
        assert same_params(fitted.get_params(), expected.get_params())
    assert trained.classes == classes
    rows = trained.split.test.compute()
    predicted = trained.model.predict(model_frame(rows, settings.data.inputs))
    truth = rows[target].to_numpy()
    if classes is None:
        assert np.corrcoef(predicted, truth)[0, 1] > 0.7  # it learned the signal
    else:
        assert list(fitted.classes_) == classes and fitted.classes_.dtype == np.asarray(truth).dtype
        assert {type(v) for v in predicted} == {type(v) for v in truth}  # labels, not codes
        baseline = max(np.mean(truth == c) for c in classes)
        assert np.mean(predicted == truth) > baseline + 0.1


def test_the_preprocessing_is_fitted_on_a_bounded_seeded_sample(modelled, validated, dask_cluster, monkeypatch):
    from modelkeel.cluster.validate import sample

    monkeypatch.setattr(cluster_train, "PREPROCESS_SAMPLE_ROWS", 300)
    settings = for_target(modelled, "value", "xgboost")
    split = split_data(settings, dask_cluster, validated.frame)
    trained = train_model(settings, dask_cluster, split)
    assert trained.preprocess_rows == 300 < split.train_rows
    rows = sample(dask_cluster, split.train, 300, settings.seed)
    imputer = trained.model.named_steps["preprocess"].named_transformers_["numeric"].named_steps["impute"]
    # the median of x2 over the sample, not over the training split
    assert imputer.statistics_[1] == pytest.approx(float(np.nanmedian(rows["x2"].astype("float32"))))
    assert imputer.statistics_[1] != pytest.approx(float(np.nanmedian(split.train["x2"].compute().astype("float32"))))


@pytest.mark.parametrize("params", [RandomForestParams(type="random_forest"), GradientBoostingParams(
    type="gradient_boosting"), LinearParams(type="linear")])  # fmt: skip
def test_a_scikit_learn_model_is_refused_naming_the_two_that_train(modelled, params):
    with pytest.raises(SettingsError, match=f"model.type {params.type}:.*lightgbm or xgboost") as error:
        check_model_type(modelled.model_copy(update={"model": params}))
    assert "model.type: lightgbm" in str(error.value) and "compute.engine: pandas" in str(error.value)


def test_files_sorted_by_class_are_dealt_so_every_worker_trains_on_every_class(modelled, dask_cluster):
    # one file per class: with whole files per worker, each worker would train a model of the classes it holds
    frame = modelled_frame(1800, 0)
    for label in ("high", "low", "mid"):
        write(frame[frame["label"] == label], modelled.root / "sorted" / f"{label}.parquet")
    settings = with_data(modelled, path="sorted")
    validated = validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    trained = trained_on(settings, dask_cluster, validated)
    assert list(trained.model.named_steps["model"].classes_) == ["high", "low", "mid"]
    rows = trained.split.test.compute()
    predicted = trained.model.predict(model_frame(rows, settings.data.inputs))
    assert set(predicted) == {"high", "low", "mid"} and np.mean(predicted == rows["label"].to_numpy()) > 0.6


def test_every_worker_is_dealt_rows_of_every_partition_in_the_same_way_on_every_run(modelled, dask_cluster):
    # files in order of x1 (as files by month are in order of time): each worker must hold rows of every file,
    # or LightGBM finds x1's bins on one worker from one end of its range
    frame = modelled_frame(2400, 0).sort_values("x1", na_position="first")
    for i in range(4):
        write(frame.iloc[i * 600 : (i + 1) * 600], modelled.root / "ordered" / f"part-{i}.parquet")
    settings = with_data(modelled, path="ordered")
    validated = validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    train = split_data(settings, dask_cluster, validated.frame).train
    pipeline = build_pipeline(settings)
    rows = train.compute()
    preprocess = pipeline[:-1].fit(model_frame(rows, settings.data.inputs))
    width = np.asarray(preprocess.transform(model_frame(rows.head(1), settings.data.inputs))).shape[1]
    inputs = settings.data.inputs

    def blocks() -> list[np.ndarray]:
        placed = cluster_train.place(dask_cluster, train, preprocess, inputs, width, "value", None, settings.seed)
        try:
            return dask_cluster.client.gather(placed.features)
        finally:
            placed.release()

    first = blocks()
    column = list(preprocess.get_feature_names_out()).index("numeric__x1")
    everywhere = np.sort(np.asarray(preprocess.transform(model_frame(rows, inputs)))[:, column])
    edges = [float(everywhere[int(q * len(everywhere))]) for q in (0, 0.25, 0.5, 0.75)]  # each file's share
    for block in first:
        x1 = block[:, column]
        assert len(block) > 0.35 * len(rows)  # about half each
        assert all(
            (x1 >= low).sum() > (x1 >= high).sum() for low, high in zip(edges, [*edges[1:], np.inf], strict=True)
        )
    assert sum(len(b) for b in first) == len(rows)
    assert all(np.array_equal(a, b) for a, b in zip(first, blocks(), strict=True))


def test_a_class_too_rare_to_reach_every_worker_is_refused_for_lightgbm(modelled, dask_cluster):
    frame = modelled_frame(1600, 0)
    rare = frame[frame["label"] == "high"].head(1)
    common = frame[frame["label"] != "high"]
    for i in range(4):
        write(common.iloc[i::4], modelled.root / "rare" / f"part-{i}.parquet")
    write(rare, modelled.root / "rare" / "part-4.parquet")
    settings = with_data(modelled, path="rare", test_size=0.01)
    validated = validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    with pytest.raises(DataError, match=r"every class among the training rows of every worker.*model\.type: xgboost"):
        trained_on(settings, dask_cluster, validated)
    # XGBoost codes the labels over the whole data: the same data trains
    trained = trained_on(for_target(settings, "label", "xgboost"), dask_cluster, validated)
    assert list(trained.model.named_steps["model"].classes_) == ["high", "low", "mid"]


def model_bytes(trained) -> tuple[bytes, bytes]:
    """The booster as its library saves it (LightGBM's model string, XGBoost's JSON), and the whole fitted
    Pipeline pickled (as model.joblib holds it)."""
    fitted = trained.model.named_steps["model"]
    if hasattr(fitted, "booster_"):
        booster = fitted.booster_.model_to_string().encode()
    else:
        booster = bytes(fitted.get_booster().save_raw("json"))
    return booster, pickle.dumps(trained.model)


def test_training_again_on_a_fresh_cluster_of_the_same_shape_gives_the_same_model_bytes(tmp_path_factory, dask_cluster):
    # what differs between two runs in practice: a new LocalCluster (new addresses), and which worker the
    # scheduler happens to give each partition; 8 partitions on 2 workers, so a placement left to chance
    # rarely repeats (the model depended on it: each worker's rows, and LightGBM's machine ranks)
    def trained(cluster, base) -> dict[str, bytes]:
        found = {}
        for model in ("lightgbm", "xgboost"):
            settings = for_target(base, "label", model)
            validated = validate_data(settings, cluster, read_data(settings, cluster))
            found[model] = model_bytes(trained_on(settings, cluster, validated))
        return found

    root = tmp_path_factory.mktemp("cluster_train_twice")
    with modelled_project(root, "cluster_train_twice_project", files=8, rows=300) as base:
        first = trained(dask_cluster, base)
        # one cluster after the other: XGBoost's Dask training waits through the newest client, so it hangs on
        # an older one while a newer one is open
        with open_cluster(dask_settings(n_workers=2, threads_per_worker=1, memory_limit="1GiB")) as fresh:
            second = trained(fresh, base)
    assert {model: first[model] == second[model] for model in first} == {"lightgbm": True, "xgboost": True}


def count_coercions(on: bool) -> int:
    """On a worker: from now on (`on`), count the partitions coerced to the contract (each read of streamed data
    is one), or stop counting and say how many were."""
    from modelkeel.cluster import validate

    real = getattr(validate, "_uncounted", None)
    if on:
        real = real or validate.coerce_partition
        validate._uncounted, validate._coerced = real, 0

        def counted(*args, **kwargs):
            validate._coerced += 1
            return real(*args, **kwargs)

        validate.coerce_partition = counted
        return 0
    if real is not None:
        validate.coerce_partition = real
        del validate._uncounted
    return int(getattr(validate, "_coerced", 0))


def test_the_classes_and_the_samples_ride_on_the_splits_pass_which_reads_streamed_data_once(
    modelled, validated, dask_cluster
):
    # streamed data is read and validated again by every pass: what training needs before it places the rows
    # (and the pipeline's bundle sample) is computed in the split's own pass, and is what training computes alone
    from modelkeel.cluster.session import Cluster
    from modelkeel.cluster.validate import sampling

    settings = for_target(modelled, "label", "lightgbm")
    streamed = validate_data(settings, dask_cluster, read_data(settings, dask_cluster))  # not kept in memory
    riders = cluster_train.training_riders(settings)

    def with_a_bundle_sample(train) -> dict:
        return {**riders(train), "bundle": sampling(streamed.frame, 50, settings.seed)}

    client = dask_cluster.client
    client.run(count_coercions, True)
    try:
        split = split_data(settings, dask_cluster, streamed.frame, riders=with_a_bundle_sample)
    finally:
        coerced = sum(client.run(count_coercions, False).values())
    assert coerced == streamed.partitions  # each partition read once for the counts, the classes and both samples
    assert set(split.riders) == {"train.sample", "train.classes", "bundle"}

    passes: list[str] = []

    class Counted(Cluster):
        def run(self, what, call, pinned_to=None):
            passes.append(what)
            return super().run(what, call, pinned_to)

    counted = Counted(dask_cluster.client, dask_cluster.kind, dask_cluster.address)
    alone = train_model(settings, counted, split_data(settings, dask_cluster, validated.frame))
    assert "sampling the training split" in passes
    passes.clear()
    ridden = train_model(settings, counted, split)
    assert passes == ["computing the training features on the workers", "training lightgbm on the cluster"]
    assert (
        (ridden.classes, ridden.preprocess_rows)
        == (alone.classes, alone.preprocess_rows)
        == (
            ["high", "low", "mid"],
            min(split.train_rows, cluster_train.PREPROCESS_SAMPLE_ROWS),
        )
    )
    assert model_bytes(ridden) == model_bytes(alone)


def install_fit_blocker() -> None:
    """On a worker: LightGBM's training task says where it runs, then waits for the test's release and fails."""
    import lightgbm.dask

    def blocking(*args, **kwargs):
        from distributed import Event, Variable, get_worker

        Variable("training-on").set(get_worker().address)
        Event("release-fit").wait(timeout=120)
        raise RuntimeError("released by the test")

    lightgbm.dask._train_part = blocking


def test_a_worker_lost_during_the_fit_ends_it_in_a_cluster_error_instead_of_a_wait_for_ever(modelled):
    # LightGBM pins each training task to its worker, so a worker killed under it (its nanny starts it again at a
    # new address) left the client waiting on a task no worker could run
    import os
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Event, Variable

    from modelkeel.errors import ClusterError

    settings = dask_settings(for_target(modelled, "label", "lightgbm"), n_workers=2, memory_limit="1GiB")
    with open_cluster(settings) as cluster, ThreadPoolExecutor(1) as pool:
        client = cluster.client
        validated = validate_data(settings, cluster, read_data(settings, cluster))
        client.run(install_fit_blocker)
        training = pool.submit(trained_on, settings, cluster, validated)
        victim = Variable("training-on", client=client).get(timeout=120)
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        try:
            with pytest.raises(ClusterError, match=r"training lightgbm on the cluster: a worker \(.*\) was lost"):
                training.result(timeout=180)  # without the check: for ever
        finally:
            Event("release-fit", client=client).set()


def test_only_the_pickle_failure_of_lightgbms_socket_is_dropped_from_the_workers_log():
    import logging

    from lightgbm.dask import _RemoteSocket

    from modelkeel.cluster.quiet import LOGGER, MESSAGE, RemoteSocketFilter

    def record(msg, *args):
        return logging.LogRecord(LOGGER, logging.ERROR, __file__, 1, msg, args, None)

    keep = RemoteSocketFilter().filter
    assert not keep(record(MESSAGE, _RemoteSocket()))
    assert not keep(record(MESSAGE, (_RemoteSocket(), 12400)))  # the port-acquiring task's result
    assert keep(record(MESSAGE, np.zeros(3)))  # any other object's failure is still logged
    assert keep(record("Failed to deserialize %s.", _RemoteSocket()))
