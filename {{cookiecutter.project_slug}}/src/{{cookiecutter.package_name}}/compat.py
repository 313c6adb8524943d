"""Which bundle layouts this runtime understands. Imports nothing heavy: used before a bundle is trusted."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import VerificationError

SUPPORTED_BUNDLE_FORMAT = 1  # the newest bundle layout this runtime understands


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


def check_bundle_format(folder: Path) -> dict:
    """The bundle's lineage, after checking this runtime can read its layout."""
    lineage = read_json(Path(folder) / "lineage.json")
    found = lineage.get("bundle_format")
    if not isinstance(found, int) or found > SUPPORTED_BUNDLE_FORMAT:
        raise VerificationError(
            f"{folder}: bundle format {found!r} is newer than this runtime supports ({SUPPORTED_BUNDLE_FORMAT}); "
            "upgrade the package that loads it"
        )
    return lineage
