"""modelkeel: the engine of a generated ML project, as one versioned library.

Its subpackages are the architecture (docs/architecture.md):

cli/ -> stages/ (validate, train, evaluate, export, bundle) with data/ and quality/ ->
bundle/ (the release unit) -> runtime/ (scoring without scikit-learn) -> registry/ (releases) ->
loop/ (the self-healing retraining loop); github/ is everything that talks to GitHub; serve/ the
HTTP service; testing/ the pytest plugin a project's own tests use.

The public contract: the command line, `load_model`, the settings schema (params.yaml), the bundle
format and the pytest plugin. Everything else may move between minor versions.
"""

from importlib import metadata

PACKAGE = __name__  # the import name; also the download cache folder's name
DISTRIBUTION = "modelkeel"  # the name pip installs it by (`pip install 'modelkeel[train]'`)

try:
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
