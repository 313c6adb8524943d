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
CHECKSUMS = "SHA256SUMS"
SIGNATURE_FILE = "bundle.sig"  # OpenSSF model signing: signs every other file; added after SHA256SUMS, so not in it
REQUIRED_FILES = (MODEL, METRICS, PARITY, SCHEMA, SIGNATURE, INPUT_EXAMPLE, LINEAGE, MODEL_CARD)
PLOT_SUFFIX = ".png"  # the evaluation plots travel in the bundle under their own names

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
