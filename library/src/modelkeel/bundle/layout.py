"""The bundle's layout: the one list of its file names, and which layouts this runtime reads.

Every module that writes or reads a bundle (or the artifacts a bundle is built from) names its
files from here. Imports nothing heavy: used before a bundle is trusted.
"""

from __future__ import annotations

SUPPORTED_BUNDLE_FORMAT = 1  # the newest bundle layout this runtime understands

# files of a bundle folder dist/<project>-<version>/
MODEL = "model.onnx"
METRICS = "metrics.json"
PARITY = "parity.json"
SCHEMA = "schema.yaml"
SIGNATURE = "signature.json"
INPUT_EXAMPLE = "input_example.json"
LINEAGE = "lineage.json"
MODEL_CARD = "model_card.md"
REFERENCE = "reference.json"  # training-data statistics that drift is measured against
DATA_MANIFEST = "data_manifest.json"  # every file training read, by sha256 (data/manifest.py); since 2.0
CHECKSUMS = "SHA256SUMS"
SIGNATURE_FILE = "bundle.sig"  # OpenSSF model signing: signs every other file; added after SHA256SUMS, so not in it
REQUIRED_FILES = (MODEL, METRICS, PARITY, SCHEMA, SIGNATURE, INPUT_EXAMPLE, LINEAGE, MODEL_CARD)
PLOT_SUFFIX = ".png"  # the evaluation plots travel in the bundle under their own names

# The most bytes a bundle file may hold: checked against the size a registry declares before anything
# is downloaded, and against the file itself before it is read, so a hostile release cannot make a
# consumer read more (the signature is checked only after SHA256SUMS was read).
MAX_CHECKSUMS_BYTES = 1 << 20  # SHA256SUMS: ~80 bytes a file, so 1 MiB lists some 13 000 files
MAX_SIGNATURE_BYTES = 1 << 20  # bundle.sig: a Sigstore bundle or a key-pair signature is a few KiB
MAX_MODEL_BYTES = 2 << 30  # model.onnx: one self-contained protobuf, which cannot exceed 2 GiB
MAX_FILE_BYTES = 256 << 20  # any other bundle file: JSON, YAML, Markdown and the PNG plots
MAX_NAME_CHARS = 255  # a bundle file's name: the longest most file systems allow
# a whole bundle: its required files, a few plots and the signature (a listing of thousands is no bundle), and
# the model plus everything else; checked from SHA256SUMS and the declared sizes before any file is fetched
MAX_BUNDLE_FILES = 256
MAX_BUNDLE_BYTES = MAX_MODEL_BYTES + (1 << 30)


def max_file_bytes(name: str) -> int:
    """The most bytes the bundle file `name` may hold (see the constants above)."""
    special = {CHECKSUMS: MAX_CHECKSUMS_BYTES, SIGNATURE_FILE: MAX_SIGNATURE_BYTES, MODEL: MAX_MODEL_BYTES}
    return special.get(name, MAX_FILE_BYTES)


def over_budget(sizes: dict[str, int | None]) -> str | None:
    """Why a bundle listing these files (name -> declared size, None when undeclared) is too large to fetch
    (MAX_BUNDLE_FILES, MAX_BUNDLE_BYTES), or None. An undeclared size counts as its file's cap."""
    if len(sizes) > MAX_BUNDLE_FILES:
        return f"it lists {len(sizes):,} files, more than the {MAX_BUNDLE_FILES} a bundle may hold"
    total = sum(max_file_bytes(name) if size is None else size for name, size in sizes.items())
    if total > MAX_BUNDLE_BYTES:
        return f"its files add up to {byte_size(total)}, more than the {byte_size(MAX_BUNDLE_BYTES)} a bundle may hold"
    return None


def byte_size(n: int) -> str:
    """A byte count for people: `1.0 MiB`, `300.0 MiB`, `512 bytes`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def odd_name(name: str) -> str | None:
    """Why `name` cannot be a bundle file's name (a path, a hidden name, a control character), or None if it can."""
    if not name:
        return "it is empty"
    if "\0" in name:
        return "it holds a NUL byte"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):  # C0, DEL, C1
        return "it holds a control character"
    if "/" in name or "\\" in name:
        return "it holds a path separator"
    if name.startswith("."):
        return "it starts with a dot (hidden, or `..`)"
    if len(name) > MAX_NAME_CHARS:
        return f"it is longer than {MAX_NAME_CHARS} characters"
    return None


def shown_name(name: str, limit: int = 80) -> str:
    """A name as an error message quotes it: its repr, cut to `limit` characters with its length after."""
    return repr(name) if len(name) <= limit else f"{name[:limit]!r}... ({len(name):,} chars)"


# files of the artifacts/ folder the stages write and the bundle is built from
TRAINED_MODEL = "model.joblib"
TRAIN_RECORD = "train.json"
PLOTS_DIR = "plots"
DOWNSTREAM_OF_TRAINING = (METRICS, MODEL, PARITY)  # stale once a new model is trained


def tarball_name(bundle_folder_name: str) -> str:
    """The tarball published next to a bundle folder: `<project>-<version>.tar.gz`."""
    return f"{bundle_folder_name}.tar.gz"


def tarball_checksum_name(bundle_folder_name: str) -> str:
    """The tarball's own checksum file (`sha256sum` format), published beside it: `<tarball>.sha256`."""
    return f"{tarball_name(bundle_folder_name)}.sha256"
