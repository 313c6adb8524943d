"""A release bundle opened once, as one typed object that the loop, `verify`, `diff`, `predict` and serving share.

`open_bundle` checks before it trusts: `SHA256SUMS` lists every required file and every file
matches it, the layout is one this runtime reads, the model file is the one that
`lineage.json` and `parity.json` name, the model holds every tensor itself (ONNX external data
would be read from the consumer's disk), and, when the consumer names a signer, `bundle.sig` is
a valid signature of that signer over every file. The JSON files are parsed once; the pandera contract
and the onnxruntime session are built on first use and then kept. Imports neither
scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import VerificationError
from ..runtime.signature import ModelInputs
from ..settings import Signer
from . import layout
from .checksums import verify_folder


def read_json(path: Path) -> dict:
    """A bundle's JSON file as a dict, or VerificationError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerificationError(
            f"{path}: missing; is {path.parent} a bundle folder (dist/<project>-<version>)?"
        ) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise VerificationError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise VerificationError(f"{path}: expected a JSON object")
    return data


def check_format(lineage: dict, folder: Path) -> None:
    """`bundle_format` is a positive integer, and one this runtime reads."""
    found = lineage.get("bundle_format")
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise VerificationError(
            f"{folder / layout.LINEAGE}: bundle_format {found!r} is not a positive integer: not a bundle this "
            "project made; do not use it"
        )
    if found > layout.SUPPORTED_BUNDLE_FORMAT:
        raise VerificationError(
            f"{folder}: bundle format {found} is newer than this runtime supports "
            f"({layout.SUPPORTED_BUNDLE_FORMAT}); upgrade the package that loads it"
        )


def schema_columns(schema_yaml: str) -> dict[str, dict]:
    """Column -> its full contract (dtype, nullable, checks) from a pandera YAML schema, without pandera."""
    import yaml

    document = yaml.safe_load(schema_yaml) or {}
    columns = {}
    for name, spec in (document.get("columns") or {}).items():
        spec = dict(spec or {})
        spec["nullable"] = bool(spec.get("nullable", False))
        columns[name] = spec
    return columns


@dataclass(frozen=True)
class Bundle:
    """A checked bundle folder: its files' digests, lineage, metrics, parity record, signature and contract."""

    folder: Path
    checksums: dict[str, str]
    lineage: dict
    metrics: dict
    parity: dict
    signature: dict
    schema_text: str

    @property
    def version(self) -> str:
        version = self.lineage.get("version")
        if not isinstance(version, str) or not version:
            raise VerificationError(f"{self.folder / layout.LINEAGE}: no version; is this a bundle folder?")
        return version

    @property
    def task(self) -> str:
        return str(self.signature["task"])

    @property
    def numeric(self) -> list[str]:
        return [i["name"] for i in self.signature["inputs"] if i["kind"] == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [i["name"] for i in self.signature["inputs"] if i["kind"] == "categorical"]

    @property
    def time(self) -> dict[str, list[str]]:
        """Each date/time input and the calendar parts the graph takes from it."""
        return {i["name"]: list(i["parts"]) for i in self.signature["inputs"] if i["kind"] == "time"}

    @property
    def inputs(self) -> ModelInputs:
        return ModelInputs(tuple(self.numeric), tuple(self.categorical), self.time)

    @property
    def features(self) -> list[str]:
        return [i["name"] for i in self.signature["inputs"]]

    @property
    def model_path(self) -> Path:
        return self.folder / layout.MODEL

    @property
    def tarball(self) -> Path:
        return self.folder.with_name(layout.tarball_name(self.folder.name))

    @property
    def tarball_checksum(self) -> Path:
        return self.folder.with_name(layout.tarball_checksum_name(self.folder.name))

    def file(self, name: str) -> Path:
        return self.folder / name

    def moved_to(self, folder: Path) -> Bundle:
        """The same checked bundle at the folder it was renamed to, keeping what was already built (session, contract)."""
        moved = dataclasses.replace(self, folder=folder)
        moved.__dict__.update({k: v for k, v in self.__dict__.items() if k not in moved.__dict__})
        return moved

    @cached_property
    def schema_columns(self) -> dict[str, dict]:
        try:
            return schema_columns(self.schema_text)
        except Exception as error:  # yaml raises several types; any of them means the file is not a schema
            raise VerificationError(f"{self.folder / layout.SCHEMA}: not a pandera YAML schema ({error})") from None

    @cached_property
    def reference(self) -> dict | None:
        """The training-data statistics drift is measured against (None for bundles made before monitoring)."""
        path = self.folder / layout.REFERENCE
        return read_json(path) if path.is_file() else None

    @cached_property
    def input_example(self) -> dict:
        return read_json(self.folder / layout.INPUT_EXAMPLE)

    @cached_property
    def input_schema(self) -> Any:
        """The bundled data contract narrowed to the model's inputs; other columns pass through unchecked."""
        from ..data.contract import schema_from_yaml

        full = schema_from_yaml(self.schema_text)
        missing = [c for c in self.features if c not in full.columns]
        if missing:
            raise VerificationError(f"{layout.SCHEMA} does not declare the model input(s) {missing}")
        narrowed = full.remove_columns([c for c in full.columns if c not in self.features])
        narrowed.strict = False
        return narrowed

    @cached_property
    def session(self) -> Any:
        """The onnxruntime.InferenceSession of model.onnx, built once."""
        from ..runtime.session import session
        from ..utils.hashing import sha256_bytes

        model = self.model_path.read_bytes()
        if sha256_bytes(model) != self.checksums[layout.MODEL]:  # the file changed after it was checked
            raise VerificationError(
                f"{self.model_path}: checksum mismatch (the file changed after the bundle was opened)"
            )
        return session(model)

    @cached_property
    def precheck(self) -> Any:
        """The contract compiled into a fast check of the model's inputs (runtime/precheck.py), built once."""
        from ..runtime.precheck import compile_check

        return compile_check(self)

    @cached_property
    def classes(self) -> list | None:
        """A classifier's classes as the data holds them (True/False for a bool target), in probability order."""
        from ..runtime.session import model_classes

        try:
            return model_classes(self.session)
        except VerificationError as error:
            raise VerificationError(f"{self.model_path}: {error}") from None

    def validate_input(self, frame: pd.DataFrame, source: str) -> pd.DataFrame:
        from ..data.contract import validate_frame

        return validate_frame(frame, self.input_schema, source, self.time)

    def outputs(self, feed: dict) -> dict:
        """The model's outputs ('label' and 'value', or 'value') on a feed (`runtime.signature.onnx_feed`).

        Every path that scores with a bundle comes through here: a classifier's labels are its
        `classes` as the data holds them (True/False for a bool target, not the graph's 0/1)."""
        from ..runtime.session import onnx_outputs

        return onnx_outputs(self.task, self.session, feed, self.classes if self.task == "classification" else None)

    def run(self, frame: pd.DataFrame) -> dict:
        """The model's outputs ('label' and 'value', or 'value') on already validated rows."""
        from ..runtime.signature import model_frame, onnx_feed

        X = model_frame(frame, self.inputs)
        return self.outputs(onnx_feed(X, self.inputs))


def open_bundle(folder: str | Path, source: str | None = None, signer: Signer | None = None) -> Bundle:
    """The bundle at `folder`, after its checksums, layout and model hashes check out, its model reads no
    external file, and (with a `signer`) its signature is that signer's; else VerificationError."""
    folder = Path(folder)
    source = source or str(folder)
    if not folder.is_dir():
        raise VerificationError(f"{source}: not a bundle folder (dist/<project>-<version>)")
    digests = verify_folder(folder, source, required=layout.REQUIRED_FILES)
    lineage = read_json(folder / layout.LINEAGE)
    check_format(lineage, folder)
    parity = read_json(folder / layout.PARITY)
    model_sha = digests[layout.MODEL]
    named = {layout.LINEAGE: (lineage.get("model") or {}).get("sha256"), layout.PARITY: parity.get("onnx_sha256")}
    for record, sha in named.items():
        if sha != model_sha:
            raise VerificationError(
                f"{source}: {record} names model sha256 {str(sha)[:12]}, but {layout.MODEL} is {model_sha[:12]}: "
                "the model was swapped after the bundle was made; do not use this bundle"
            )
    from ..runtime.session import check_self_contained

    check_self_contained((folder / layout.MODEL).read_bytes(), f"{source}: {layout.MODEL}")
    if signer is not None:
        from .signing import verify_signature

        verify_signature(folder, signer, str(lineage.get("version")), source)
    try:
        schema_text = (folder / layout.SCHEMA).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise VerificationError(f"{folder / layout.SCHEMA}: not text (not UTF-8)") from None
    return Bundle(
        folder=folder,
        checksums=digests,
        lineage=lineage,
        metrics=read_json(folder / layout.METRICS),
        parity=parity,
        signature=read_json(folder / layout.SIGNATURE),
        schema_text=schema_text,
    )
