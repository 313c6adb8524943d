"""The project's package. Its subpackages are the architecture (see the README's layout section):

cli/ -> stages/ (validate, train, evaluate, export, bundle) with data/ and quality/ ->
bundle/ (the release unit) -> runtime/ (scoring without scikit-learn) -> registry/ (releases) ->
loop/ (the self-healing retraining loop); github/ is everything that talks to GitHub.
"""

from importlib import metadata

PACKAGE = __name__  # the import name: schemas/ modules and the download cache folder are found by it
DISTRIBUTION = "{{ cookiecutter.project_slug }}"  # the name pip installs it by (`pip install NAME[train]`)

try:
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
