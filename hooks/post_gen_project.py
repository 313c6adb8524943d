"""Finish the generated project.

Removes only what an option disables, records the answers in `.cookiecutter.json`
as a cookiecutter replay file (so `cookiecutter --replay-file .cookiecutter.json TEMPLATE`
regenerates or updates the project later) and prints the next commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

# option -> value -> paths (relative to the project root) that the value disables
REMOVED_BY_OPTION: dict[str, dict[str, tuple[str, ...]]] = {
    "license": {"Proprietary": ("LICENSE",)},
}

# Answers that describe the baking machine, not the project: never recorded.
UNRECORDED_KEYS = frozenset({"_output_dir", "_repo_dir", "_checkout"})


# Jinja's `tojson` writes characters outside the Basic Multilingual Plane (emoji) as JSON surrogate
# pairs, which TOML rejects; TOML spells them as one \UXXXXXXXX escape.
SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def toml_escapes(text: str) -> str:
    def combine(match: re.Match) -> str:
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"

    return SURROGATE_PAIR.sub(combine, text)


def paths_to_remove(answers: dict) -> list[str]:
    removed: list[str] = []
    for option, by_value in REMOVED_BY_OPTION.items():
        removed.extend(by_value.get(str(answers.get(option)), ()))
    return removed


def remove_disabled(root: Path, answers: dict) -> None:
    for relative in paths_to_remove(answers):
        target = root / relative
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def recorded_answers(answers: dict) -> dict:
    return {k: v for k, v in answers.items() if k not in UNRECORDED_KEYS and not k.startswith("__")}


def write_json_atomically(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def next_steps(answers: dict) -> str:
    slug = answers["project_slug"]
    return "\n".join(
        [
            f"Created {slug}. Next:",
            f"  cd {slug}",
            "  git init && git add -A && git commit -m 'Start from the template'",
            "  make install     # locked environment in .venv (uv)",
            "  make pipeline    # validate -> train -> evaluate -> export (parity gate) -> bundle -> verify",
            "  make test        # data, model-quality, parity and unit tests",
            "  make help        # every command",
        ]
    )


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    root = Path.cwd()
    remove_disabled(root, answers)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(toml_escapes(pyproject.read_text(encoding="utf-8")), encoding="utf-8")
    write_json_atomically(root / ".cookiecutter.json", {"cookiecutter": recorded_answers(answers)})
    print(next_steps(answers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
