"""A runtime-only install (the release's wheel) names the extra to install instead of failing with an ImportError."""

import subprocess
import sys

import pytest

from modelkeel import DISTRIBUTION
from modelkeel.errors import MissingDependency
from modelkeel.registry import backend_for
from modelkeel.utils import extras

from ..conftest import PROJECT_ROOT


def without(monkeypatch, *modules):
    """Make `import module` fail as if the module were not installed (None in sys.modules halts the import)."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_an_installed_module_is_returned():
    assert extras.require("json", "anything").dumps([]) == "[]"


def test_a_missing_fsspec_names_the_fsspec_extra(monkeypatch):
    without(monkeypatch, "fsspec")
    with pytest.raises(MissingDependency) as caught:
        backend_for(None, "memory://models", None)
    message = str(caught.value)
    assert "the fsspec registry memory://models needs the `fsspec` extra" in message
    assert f"pip install '{DISTRIBUTION}[fsspec]'" in message


def test_a_missing_signing_library_fails_closed_naming_the_signing_extra(monkeypatch, bundle_dir):
    from modelkeel.bundle.signing import verify_signature
    from modelkeel.settings import Signer

    without(monkeypatch, "model_signing", "model_signing.verifying")
    signer = Signer(public_key=str(bundle_dir / "key.pub"))  # never read: the library is missing first
    with pytest.raises(MissingDependency, match=r"needs the `signing` extra \(model_signing is not installed\)"):
        verify_signature(bundle_dir, signer, "0.1.0", str(bundle_dir))


def test_a_module_of_no_extra_is_not_explained_away():
    error = ModuleNotFoundError("No module named 'pandas'", name="pandas")
    assert extras.message_for(error) is None
    assert "`train` extra" in extras.message_for(ModuleNotFoundError("x", name="sklearn.pipeline"))


def test_a_training_command_without_the_train_extra_says_what_to_install():
    blocked = "import sys; sys.modules['sklearn'] = None; from modelkeel.cli import main; sys.exit(main(['train']))"
    done = subprocess.run(
        [sys.executable, "-c", blocked], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "error: `train` needs the `train` extra (sklearn is not installed)" in done.stderr
    assert "Traceback" not in done.stderr
