"""Every error a user can act on, in one tree. The CLI prints the message and exits non-zero, without a traceback.

Callers catch these by type; no code looks inside an error's message text.

    PipelineError                  the message says what is wrong and how to fix it
    ├── SettingsError              params.yaml is missing, malformed, or has an unknown or mistyped key
    ├── MissingDependency          an optional extra (train, fsspec, signing) is not installed; names it
    ├── DataError                  a data file cannot be read (missing, empty, truncated, wrong format)
    │   ├── DataValidationError    the data breaks its contract; carries the failure report
    │   ├── TrustedSetError        the trusted evaluation set is missing, changed, or mixed with training data
    │   └── DataStoreError         the data store cannot keep or give back an object (unreachable, too large)
    │       ├── ObjectNotFound     the store holds no object of that sha256 (never stored, or removed)
    │       └── CorruptObject      a stored object's bytes do not match its sha256 or size: refused
    ├── RebuildError               a release cannot be rebuilt (no manifest, data forgotten, unknown commit)
    ├── ClusterError               the Dask cluster is unreachable, mismatched, or lost a worker mid-run
    ├── StageOrderError            a stage needs an earlier stage's output that is missing or stale
    ├── GateError                  a safeguard (quality threshold, parity tolerance) blocked the model
    ├── VerificationError          a bundle does not match its checksums, model, schema or parity record
    ├── RegistryError              a release cannot be found, fetched or trusted
    │   ├── NoReleaseYet           the registry holds no published release at all
    │   ├── ReleaseNotFound        the registry has no release of the version asked for
    │   ├── RepositoryNotFound     the GitHub repository does not exist or is not readable with the token
    │   ├── NotFoundOnGitHub       the GitHub API answered 404 (the registry tells which of the above it means)
    │   └── RefusedURL             a URL the GitHub client will not fetch (not https, not loopback, a downgrade)
    ├── ReleaseError               a release was refused before anything was published
    └── GitHubError                a GitHub API call or `gh` command failed
        └── IssueError             the model-health issue could not be found, opened or commented on
"""


class PipelineError(Exception):
    """Base class: the message says what is wrong and how to fix it."""

    exit_code = 1


class SettingsError(PipelineError):
    """params.yaml is missing, malformed, or has an unknown or mistyped key."""


class MissingDependency(PipelineError):
    """An optional extra (train, fsspec, signing) that this needs is not installed; the message names it."""


class DataError(PipelineError):
    """A data file cannot be read (missing, empty, truncated, wrong format)."""


class DataValidationError(DataError):
    """The data breaks the schema; the message is the failure report, `report` its structured form."""

    def __init__(self, message: str, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


class TrustedSetError(DataError):
    """The trusted evaluation set (retrain.trusted) is missing, changed since it was pinned, or training data."""


class DataStoreError(DataError):
    """The data store (data_store.url) cannot keep or give back an object: unreachable, refused, too large."""


class ObjectNotFound(DataStoreError):
    """The data store holds no object of that sha256: it was never stored, or it was removed."""


class CorruptObject(DataStoreError):
    """A stored object's bytes do not hash to its name, or are not its size: corrupted or substituted; refused."""


class RebuildError(PipelineError):
    """A release cannot be rebuilt: no data manifest, an object missing or forgotten, an unknown commit, a failed run."""


class ClusterError(PipelineError):
    """The Dask cluster cannot be reached, runs other versions than this client, or lost a worker mid-run."""


class StageOrderError(PipelineError):
    """A stage needs the output of an earlier stage that is missing or stale."""


class GateError(PipelineError):
    """A safeguard (quality threshold, parity tolerance) blocked the model."""


class VerificationError(PipelineError):
    """A bundle does not match its checksums, model, schema or parity record."""


class RegistryError(PipelineError):
    """A release cannot be found, fetched or trusted; the message says which and why."""


class NoReleaseYet(RegistryError):
    """The registry exists but holds no published release: there is no champion to compare with."""


class ReleaseNotFound(RegistryError):
    """The registry has no release of the version asked for."""


class RepositoryNotFound(RegistryError):
    """The GitHub repository does not exist, or the token cannot read it."""


class NotFoundOnGitHub(RegistryError):
    """The GitHub API answered 404 for a URL; the registry client turns it into one of the errors above."""


class ReleaseError(PipelineError):
    """The release was refused before anything was published."""


class GitHubError(PipelineError):
    """A GitHub API call or `gh` command failed."""


class IssueError(GitHubError):
    """The model-health issue could not be found, opened or commented on."""


class RefusedURL(RegistryError):
    """A URL (API address, asset, next page or redirect) the GitHub client will not fetch: not https (plain
    http only to loopback), another scheme such as file://, credentials in it, or a redirect from https to http."""
