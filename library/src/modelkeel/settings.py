"""The strict, typed view of `params.yaml`: every knob and every safeguard threshold.

Unknown keys, wrong types and missing values are errors that name the key, so a
typo in `params.yaml` can never silently fall back to a default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .errors import SettingsError
from .quality.metrics import for_task, lower_is_better
from .runtime.calendar import PARTS, CalendarPart

if TYPE_CHECKING:
    from .runtime.signature import ModelInputs

Task = Literal["classification", "regression"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class DataSettings(Strict):
    path: str | tuple[str, ...] = Field(
        description="CSV or Parquet file, a glob of them, or a list of files and globs, relative to params.yaml"
    )
    schema_name: str = Field(alias="schema", description="module in the package's schemas/ folder")
    target: str
    numeric_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    time_features: dict[str, tuple[CalendarPart, ...]] = Field(
        default_factory=dict,
        description="date/time columns and the calendar parts the model gets from each (runtime/calendar.py)",
    )
    test_size: float = Field(gt=0.0, lt=1.0)
    split: Literal["random", "time"] = Field(
        "random", description="random rows (stratified for classification), or the most recent rows by split_column"
    )
    split_column: str | None = Field(None, description="the date/time column a time split orders the rows by")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _no_credentials_in_urls(self) -> DataSettings:
        from .data.remote import check_no_credentials, is_url

        for path in (self.path,) if isinstance(self.path, str) else self.path:
            if is_url(path):
                check_no_credentials(path, "data.path")
        return self

    @model_validator(mode="after")
    def _features_make_sense(self) -> DataSettings:
        features = list(self.features)
        if not features:
            raise ValueError("list at least one column in numeric_features, categorical_features or time_features")
        duplicated = sorted({c for c in features if features.count(c) > 1})
        if duplicated:
            raise ValueError(f"columns listed twice in the features: {duplicated}")
        if self.target in features:
            raise ValueError(f"the target {self.target!r} must not also be a feature")
        for column, parts in self.time_features.items():
            if not parts:
                raise ValueError(f"time_features {column!r}: list at least one calendar part ({', '.join(PARTS)})")
        clash = sorted(set(self.inputs.derived) & set(features))
        if clash:
            raise ValueError(f"derived calendar column(s) {clash} clash with feature names: rename those columns")
        if self.split == "time" and self.split_column is None:
            raise ValueError("split: time needs split_column, the date/time column that orders the rows")
        if self.split == "random" and self.split_column is not None:
            raise ValueError("split_column is only read by split: time; remove it or set split: time")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        """The raw columns a consumer passes in."""
        return (*self.numeric_features, *self.categorical_features, *self.time_features)

    @property
    def inputs(self) -> ModelInputs:
        """The columns as the model takes them: numeric, categorical, and calendar parts of time columns."""
        from .runtime.signature import ModelInputs

        return ModelInputs(self.numeric_features, self.categorical_features, dict(self.time_features))


SEED_KEYS = ("random_state", "seed", "random_seed")  # the estimator is seeded from the top-level `seed`


def _plain_yaml(value: object) -> bool:
    """A number, text, true/false, null, or a list of those: what a hyperparameter in params.yaml may be."""
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))


class EstimatorParams(Strict):
    """A model option's keys. Any other key goes to the estimator as it is: `build_estimator`
    (stages/estimators.py) checks the estimator takes it, since settings load without scikit-learn."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=False)

    @model_validator(mode="after")
    def _other_keys_are_plain_values(self) -> EstimatorParams:
        for key, value in (self.model_extra or {}).items():
            if key in SEED_KEYS:
                raise ValueError(
                    f"model.{key}: the estimator is seeded from `seed` at the top of params.yaml "
                    "(one seed for the split, the model and every resample): set it there"
                )
            if not _plain_yaml(value):
                raise ValueError(f"model.{key}: give a number, text, true/false, null, or a list of those")
        return self

    @property
    def estimator_keys(self) -> dict[str, object]:
        """The keys params.yaml passes to the estimator beyond the option's own (checked when it is built)."""
        return dict(self.model_extra or {})


class RandomForestParams(EstimatorParams):
    type: Literal["random_forest"]
    n_estimators: int = Field(200, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    n_jobs: int = Field(1, description="parallel fitting; -1 uses every core")


class LinearParams(EstimatorParams):
    type: Literal["linear"]
    C: float = Field(1.0, gt=0, description="inverse regularisation strength (classification)")
    alpha: float = Field(1.0, ge=0, description="regularisation strength (regression)")
    max_iter: int = Field(1000, ge=1)


class GradientBoostingParams(EstimatorParams):
    type: Literal["gradient_boosting"]
    n_estimators: int = Field(100, ge=1, le=5000)
    learning_rate: float = Field(0.1, gt=0, le=1)
    max_depth: int = Field(3, ge=1)
    subsample: float = Field(1.0, gt=0, le=1)


class LightGBMParams(EstimatorParams):
    type: Literal["lightgbm"]
    n_estimators: int = Field(200, ge=1, le=5000)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(15, ge=2, le=131072, description="leaves per tree: LightGBM's capacity knob")
    min_child_samples: int = Field(10, ge=1, description="fewest training rows in a leaf")
    n_jobs: int = Field(1, description="threads; 1 keeps training reproducible on any machine")


class XGBoostParams(EstimatorParams):
    type: Literal["xgboost"]
    n_estimators: int = Field(200, ge=1, le=5000)
    learning_rate: float = Field(0.1, gt=0, le=1)
    max_depth: int = Field(4, ge=1, le=32)
    subsample: float = Field(1.0, gt=0, le=1)
    n_jobs: int = Field(1, description="threads; 1 keeps training reproducible on any machine")


MODEL_TYPES = ("random_forest", "linear", "gradient_boosting", "lightgbm", "xgboost")
ModelParams = Annotated[
    RandomForestParams | LinearParams | GradientBoostingParams | LightGBMParams | XGBoostParams,
    Field(discriminator="type"),
]


class QualitySettings(Strict):
    primary_metric: str
    threshold: float = Field(description="minimum (maximum for rmse/mae) of the primary metric on the test split")
    slice_metric: str = Field(description="metric gated on every category of every categorical feature")
    slice_threshold: float = Field(description="every slice's slice_metric must reach this (a maximum for rmse/mae)")
    slice_min_rows: int = Field(10, ge=1, description="slices with fewer test rows are reported, not gated")
    slice_confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="a slice fails only when this interval of its slice_metric lies wholly beyond slice_threshold",
    )
    min_improvement_over_baseline: float = Field(
        0.0, ge=0, description="how much better than the trivial baseline the model must be"
    )

    @property
    def higher_is_better(self) -> bool:
        return not lower_is_better(self.primary_metric)


class ParitySettings(Strict):
    target_opset: int = Field(18, ge=13, le=21, description="ONNX opset the export is pinned to")
    atol: float = Field(1e-4, ge=0, description="absolute tolerance for probabilities / predictions")
    rtol: float = Field(1e-5, ge=0, description="relative tolerance for probabilities / predictions")


GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"


WorkflowURL = Annotated[
    str,
    StringConstraints(
        pattern=r"^https://github\.com/[A-Za-z0-9-]+/[A-Za-z0-9._-]+/\.github/workflows/[A-Za-z0-9._-]+\.ya?ml$"
    ),
]


class Signer(Strict):
    """Who must have signed a bundle (`bundle.sig`) before it is used: a key pair's public key, or a GitHub
    workflow signing keylessly with Sigstore (its certificate names the workflow and the ref it ran on)."""

    public_key: str | None = Field(None, description="PEM public key file (relative to params.yaml) of a key pair")
    workflow: WorkflowURL | tuple[WorkflowURL, ...] | None = Field(
        None,
        description="the signing workflow, or a list of them: https://github.com/OWNER/NAME/.github/workflows/release.yml "
        "(every workflow may have signed on every ref)",
    )
    refs: tuple[str, ...] = Field(
        ("refs/tags/v{version}", "refs/heads/main"),
        min_length=1,
        description="the refs that workflow may have run on; {version} stands for the bundle's version",
    )
    issuer: str = Field(GITHUB_OIDC_ISSUER, description="the OIDC issuer of the workflow's identity")
    unsigned_before: str | None = Field(
        None,
        pattern=r"^\d+\.\d+\.\d+$",
        description="releases below this version predate signing and are accepted unsigned (a signed one is checked)",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Signer:
        if (self.public_key is None) == (self.workflow is None):
            raise ValueError("give exactly one of public_key (a key pair) or workflow (Sigstore keyless)")
        if self.workflow is not None and not self.workflows:
            raise ValueError("workflow: name at least one signing workflow")
        return self

    def accepts_unsigned(self, version: str) -> bool:
        """Whether a bundle of `version` may come without a signature: only below `unsigned_before`."""
        if self.unsigned_before is None:
            return False
        try:
            return tuple(map(int, version.split("."))) < tuple(map(int, self.unsigned_before.split(".")))
        except ValueError:
            return False

    @property
    def workflows(self) -> tuple[str, ...]:
        """The signing workflows (`workflow` as one URL or a list)."""
        if self.workflow is None:
            return ()
        return (self.workflow,) if isinstance(self.workflow, str) else self.workflow

    def identities(self, version: str) -> list[str]:
        """The certificate identities (SAN) a keyless signature of `version` may carry: every workflow on every ref."""
        return [f"{workflow}@{ref.replace('{version}', version)}" for workflow in self.workflows for ref in self.refs]


class RegistrySettings(Strict):
    github_repo: str | None = Field(None, description="OWNER/NAME whose GitHub Releases hold the bundles")
    url: str | None = Field(None, description="fsspec URL of a registry laid out as <url>/<version>/")
    signer: Signer | None = Field(
        None,
        description="who must have signed a bundle (bundle.sig) before it is used: every download, the loop's "
        "champion, a signed local folder; none: nothing is fetched from a registry, and only this checkout's own "
        "unsigned build (or --allow-unsigned) is used from a folder",
    )


class DataStoreSettings(Strict):
    """`data_store`: where every file a training run read is kept, content-addressed (data/store.py)."""

    url: str = Field(
        ".data-store",
        min_length=1,
        description="a folder (relative to params.yaml; the default is ignored by git) or an fsspec URL (s3://, "
        "gs://) holding every file a training run read, by sha256, written once; credentials come from the "
        "environment (AWS_* for s3://), never from here",
    )

    @model_validator(mode="after")
    def _no_credentials_in_url(self) -> DataStoreSettings:
        from .data.remote import check_no_credentials, is_url

        if is_url(self.url):
            check_no_credentials(self.url, "data_store.url")
        return self


class SplitSource(Strict):
    """The user's file that `freeze-trusted` split into the trusted set and the training data, left as it was."""

    path: str = Field(description="the file, relative to params.yaml")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="its sha256 when it was split")


class TrustedSet(Strict):
    """A frozen, labelled evaluation set the loop never trains on and no batch can write (`freeze-trusted`)."""

    path: str = Field(description="CSV or Parquet file, relative to params.yaml; apart from data.path and the batches")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="the file's sha256: the loop refuses any other bytes")
    split_from: SplitSource | None = Field(
        None, description="the file freeze-trusted split this set and the training data from (kept as it was)"
    )


class RetrainSettings(Strict):
    source: str = Field("data/incoming/*.csv", description="new data batches: a glob, or an fsspec URL with a glob")
    window: Literal["all"] | Annotated[int, Field(ge=1)] = Field(
        "all", description="the challenger trains on data.path plus every batch (all) or the last N batches"
    )
    psi_threshold: float = Field(
        0.25, gt=0, description="a feature drifts at this population stability index (an effect size)"
    )
    ks_distance: float = Field(
        0.1, gt=0, le=1, description="a numeric feature drifts at this two-sample KS statistic (an effect size)"
    )
    ks_pvalue: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="the evidence level: an effect counts only when its test (KS for numbers, chi-square for "
        "categories) has a p-value below this",
    )
    drift_exempt: tuple[str, ...] = Field(
        (),
        description="features that move by construction (calendar, time, counters): their drift is shown, "
        "never a reason to retrain",
    )
    min_drifted_features: int = Field(1, ge=1, description="retrain when at least this many features drift")
    drift_plots: int = Field(
        12, ge=0, description="drift plots per run at most: every drifted feature first, then the largest PSI"
    )
    max_metric_drop: float = Field(
        0.05, ge=0, description="retrain when the champion's metric on new labelled data is this much worse"
    )
    promotion_margin: float = Field(
        0.01,
        ge=0,
        description="the challenger must beat the champion by this much (and the lower end of the gain's interval "
        "be above 0); a champion that slid this much, beyond its interval, is retrained",
    )
    trusted: TrustedSet | None = Field(
        None, description="the trusted evaluation set; without one every promotion waits for a person"
    )
    max_trusted_drop: float | None = Field(
        None,
        ge=0,
        description="how much worse than the champion the challenger may score on the trusted set "
        "(unset: max_metric_drop)",
    )
    min_new_rows: int = Field(30, ge=1, description="fewer held-out new rows than this are not evidence enough")
    confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="the bootstrap intervals: the promotion gain's (its lower end must be above 0) and the "
        "champion's metric on new rows (a slide)",
    )
    bootstrap_resamples: int = Field(1000, ge=100, le=100_000, description="resamples of the paired bootstrap")
    issue_label: str = Field("model-health", min_length=1, description="label of the one issue the loop keeps")
    max_batch_rows: int = Field(
        10_000_000,
        ge=1,
        description="rows in one batch file; more is refused before it is loaded (a Parquet footer's row count, a "
        "CSV's counted streaming), as predict refuses a file",
    )
    max_batch_bytes: int = Field(
        2 * 1024**3, ge=1, description="bytes of one batch file; a larger one is refused before it is read"
    )

    @property
    def trusted_tolerance(self) -> float:
        """max_trusted_drop, or max_metric_drop where params.yaml does not set it (both in the metric's units)."""
        return self.max_metric_drop if self.max_trusted_drop is None else self.max_trusted_drop

    @model_validator(mode="after")
    def _no_credentials_in_source(self) -> RetrainSettings:
        from .data.remote import check_no_credentials, is_url

        if is_url(self.source):
            check_no_credentials(self.source, "retrain.source")
        return self


BYTES_RE = r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$"


class DaskSettings(Strict):
    """`compute.dask`: the cluster the Dask engine runs on (cluster/session.py)."""

    address: str | None = Field(
        None,
        description="null: a LocalCluster started for the run and shut down after it; tcp:// or tls:// of an "
        "existing scheduler; https:// of a dask-gateway server. Credentials come from the environment (DASK_* "
        "TLS settings, DASK_GATEWAY__AUTH__*), never from here",
    )
    n_workers: int = Field(2, ge=1, le=1024, description="workers of the LocalCluster")
    threads_per_worker: int = Field(1, ge=1, le=256, description="threads of each LocalCluster worker")
    memory_limit: str = Field(
        "2GiB",
        pattern=BYTES_RE,
        description="memory of each LocalCluster worker (2GiB, 512MiB); a worker over it is restarted",
    )
    connect_timeout: float = Field(30, gt=0, le=3600, description="seconds to reach the scheduler before giving up")

    @model_validator(mode="after")
    def _address(self) -> DaskSettings:
        if self.address is None:
            return self
        scheme = self.address.split("://", 1)[0] if "://" in self.address else ""
        if scheme not in ("tcp", "tls", "http", "https"):
            raise ValueError(
                f"compute.dask.address {self.address[:80]!r}: use tcp://HOST:PORT or tls://HOST:PORT (a scheduler), "
                "https://HOST (a dask-gateway server), or null for a LocalCluster"
            )
        if "?" in self.address or "#" in self.address:
            raise ValueError(
                "compute.dask.address carries a query or fragment (a token?): keep credentials out of the address; "
                "a dask-gateway takes its auth from DASK_GATEWAY__AUTH__* in the environment"
            )
        if "@" in self.address.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "compute.dask.address carries credentials: keep them out of params.yaml; a TLS scheduler takes its "
                "certificate and key from DASK_DISTRIBUTED__COMM__TLS__* in the environment (a secret in Actions)"
            )
        return self


class ComputeSettings(Strict):
    """`compute`: where the pipeline runs. pandas: in this process (the default); dask: on a Dask cluster."""

    engine: Literal["pandas", "dask"] = Field("pandas", description="pandas (one process) or dask (a cluster)")
    dask: DaskSettings = DaskSettings()


class ServeSettings(Strict):
    """`serve`: the HTTP service (serve/). Command-line options override host, port and reload_every."""

    host: str = Field("127.0.0.1", min_length=1, description="address to listen on; 0.0.0.0 for every interface")
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(
        8 * 1024**2, ge=1, description="a larger request body is refused (413), whether declared or streamed"
    )
    max_rows: int = Field(10_000, ge=1, description="rows in one /predict request; more is refused (413)")
    offload_bytes: int = Field(
        64 * 1024, ge=0, description="a larger body is parsed and scored in a worker thread (health stays answered)"
    )
    reload_every: float | None = Field(
        None, gt=0, description="seconds between checks for a new latest release (serve --version latest); null: off"
    )
    graceful_shutdown: int = Field(10, ge=0, description="seconds in-flight requests get to finish on SIGTERM")
    header_timeout: float = Field(
        10, gt=0, description="seconds a client has to send a request's headers; slower ones get 408 and are closed"
    )
    body_timeout: float = Field(
        30, gt=0, description="seconds a client has to send a request's body; slower ones get 408 and are closed"
    )
    require_signature: bool = Field(
        False,
        description="true: even this checkout's own unsigned build in dist/ is refused; every served bundle must "
        "carry registry.signer's signature (downloads and other folders always must, unless --allow-unsigned)",
    )
    access_log: bool = Field(False, description="log every request (uvicorn's access log)")


class PathSettings(Strict):
    artifacts: str = "artifacts"
    dist: str = "dist"


class Settings(Strict):
    package: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the project's Python package: its schemas/ hold the contract, its model.py builds the pipeline",
    )
    task: Task
    seed: int = Field(ge=0, le=2**32 - 1)
    data: DataSettings
    model: ModelParams
    quality: QualitySettings
    parity: ParitySettings
    paths: PathSettings = PathSettings()
    registry: RegistrySettings = RegistrySettings()
    data_store: DataStoreSettings = DataStoreSettings()
    compute: ComputeSettings = ComputeSettings()
    retrain: RetrainSettings = RetrainSettings()
    serve: ServeSettings = ServeSettings()

    # set by load_settings; not part of params.yaml
    root: Path = Field(Path("."), exclude=True)
    # set by retraining: the challenger's version (the next minor of the champion); else pyproject's
    model_version: str | None = Field(None, exclude=True)
    # set by retraining: extra lineage (the champion it challenged, the batches it had seen)
    lineage_extra: dict | None = Field(None, exclude=True)
    # set by retraining: the new batches (paths as the snapshot records them); a time split holds out
    # the most recent rows of these, so the challenger also trains on the earlier new rows
    test_pool: tuple[str, ...] | None = Field(None, exclude=True)
    # the loop's copies of retrain.source objects (path as in data.path -> URL), for lineage to name the URL
    data_urls: dict[str, str] | None = Field(None, exclude=True)
    # set by retraining: the window's batches (paths as the snapshot records them), listed as such in the manifest
    batch_files: tuple[str, ...] | None = Field(None, exclude=True)
    # set by `rebuild`: the files to read in place of what data.path names (path relative to the root, and the
    # URL it was copied from), in the order the release read them
    data_files: tuple[tuple[str, str | None], ...] | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _metric_fits_task(self) -> Settings:
        allowed = for_task(self.task)
        for key in ("primary_metric", "slice_metric"):
            metric = getattr(self.quality, key)
            if metric not in allowed:
                raise ValueError(
                    f"quality.{key} {metric!r} does not fit task {self.task!r}; use one of {', '.join(allowed)}"
                )
        return self

    @model_validator(mode="after")
    def _exempt_columns_are_features(self) -> Settings:
        known = {*self.data.features, *([self.data.split_column] if self.data.split_column else [])}
        unknown = [c for c in self.retrain.drift_exempt if c not in known]
        if unknown:
            raise ValueError(
                f"retrain.drift_exempt names {unknown}, not a feature of data.*_features: "
                "list only features whose drift is shown but never a reason to retrain"
            )
        return self

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    @property
    def artifacts_dir(self) -> Path:
        return self.resolve(self.paths.artifacts)

    @property
    def dist_dir(self) -> Path:
        return self.resolve(self.paths.dist)

    @property
    def data_store_url(self) -> str:
        """data_store.url as a URL or an absolute folder (a relative folder is relative to params.yaml)."""
        from .data.remote import is_url

        return self.data_store.url if is_url(self.data_store.url) else str(self.resolve(self.data_store.url))

    @property
    def data_snapshot_dir(self) -> Path:
        """Where data.path's URLs are copied before use (data/remote.py)."""
        return self.artifacts_dir / "snapshot" / "data"

    def as_params(self) -> dict:
        """The params that shape the model and its gates (defaults filled in), JSON-ready.

        Output locations (`paths`, `registry`, `data_store`), where it runs (`compute`: lineage records the engine
        and the cluster), the retraining policy (`retrain`) and the service (`serve`)
        are left out: they do not change the model.
        """
        return self.model_dump(
            mode="json",
            by_alias=True,
            exclude={
                "package",
                "root",
                "model_version",
                "lineage_extra",
                "test_pool",
                "data_urls",
                "batch_files",
                "data_files",
                "paths",
                "registry",
                "data_store",
                "compute",
                "retrain",
                "serve",
            },
        )

    def version(self) -> str:
        """The version a bundle built now gets: the retraining override, else pyproject.toml's."""
        from .bundle.lineage import project_version

        return self.model_version or project_version(self.root)

    def params_hash(self) -> str:
        canonical = json.dumps(self.as_params(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _format_validation_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: {error.error_count()} problem(s) in the params:"]
    for item in error.errors():
        loc = [str(p) for p in item["loc"]]
        # drop the discriminator tag pydantic inserts for tagged unions (model.random_forest.x -> model.x)
        if len(loc) >= 2 and loc[0] == "model" and loc[1] in MODEL_TYPES:
            loc.pop(1)
        key = ".".join(loc) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see params.yaml comments for the accepted keys)"
        elif item["type"] == "missing":
            message = "missing: add this key"
        elif item["type"] == "union_tag_invalid":
            message = f"unknown model type; use {', '.join(MODEL_TYPES[:-1])} or {MODEL_TYPES[-1]}"
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def load_settings(path: str | Path = "params.yaml") -> Settings:
    """Read and check `params.yaml`; raise SettingsError with a readable message on any problem."""
    from ruamel.yaml import YAML, YAMLError

    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{path}: params file not found. Run from the project root or pass --params PATH.")
    try:
        raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise SettingsError(
            f"{path}: expected a mapping of keys (task, seed, data, model, ...), got {type(raw).__name__}"
        )
    if "root" in raw:
        raise SettingsError(f"{path}: root: unknown key")
    try:
        return Settings.model_validate({**raw, "root": path.resolve().parent})
    except ValidationError as error:
        raise SettingsError(_format_validation_error(path, error)) from None
