"""Finish the generated project.

Removes only what an option disables, records the answers in `.cookiecutter.json`
as a cookiecutter replay file (so `cookiecutter --replay-file .cookiecutter.json TEMPLATE`
regenerates the project later), records the template's source, commit and the answers in
`.cruft.json` (what `cruft check` and `cruft update` need to bring template updates into the
project), sets the runner of the jobs that train (the `runs_on` answer) and prints the next commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# option -> value -> paths (relative to the project root) that the value disables
REMOVED_BY_OPTION: dict[str, dict[str, tuple[str, ...]]] = {
    "license": {"Proprietary": ("LICENSE",)},
}

# Answers that describe the baking machine, not the project: never recorded. (`_commit`, set by
# cruft while it renders, is the template's version: .cruft.json holds it, the replay file does not.)
UNRECORDED_KEYS = frozenset({"_output_dir", "_repo_dir", "_checkout", "_commit"})

# What `cruft update` leaves alone: the template's changes to these paths are never applied
# (README "Template updates" says why; add your own in .cruft.json "skip" or pyproject [tool.cruft]).
CRUFT_SKIP = (
    ".cruft.json",  # cruft's own record: `cruft update` rewrites it with the new commit
    "data",  # your data and its notes: the template's sample data never replaces, edits or deletes them
)
# Written as the commit when the template was not a git checkout (a zip, a plain folder): `cruft
# check` and `cruft update` then stop with an error quoting it (a null commit would pass the check).
COMMIT_UNKNOWN = "unrecorded-the-template-was-not-a-git-checkout-see-README-Template-updates"
# Cookiecutter's URL forms (cookiecutter.repository.is_repo_url) and its built-in abbreviations.
REPO_URL = re.compile(r"((((git|hg)\+)?(git|ssh|file|https?):(//)?)|(\w+@[\w\.]+))")
BUILTIN_ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}


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


# The jobs that train, each marked in its workflow (the workflows stay plain YAML in the template, so zizmor and
# the schema check read them there too); their `runs-on: ubuntu-latest` becomes the `runs_on` answer.
TRAINING_RUNNER_MARK = " # the training runner: the runs_on answer (README: The runner that trains)"
TRAINING_JOBS = {
    ".github/workflows/ci.yml": "pipeline",
    ".github/workflows/release.yml": "release",
    ".github/workflows/retrain.yml": "loop",
}
RUNS_ON_LINE = re.compile(r"^(    runs-on: )ubuntu-latest" + re.escape(TRAINING_RUNNER_MARK) + "$", re.MULTILINE)


def runner_value(runs_on: str, *, fork_fallback: bool) -> str:
    """The YAML for `runs-on`: one label, or a list; with `fork_fallback`, an expression that sends a fork's
    pull request to ubuntu-latest (its code never reaches a self-hosted or billed runner). The pre-gen hook
    has checked every label: letters, digits, '.', '_' and '-' only."""
    labels = [label.strip() for label in runs_on.split(",")]
    if labels == ["ubuntu-latest"]:
        return "ubuntu-latest"
    if not fork_fallback:
        return labels[0] if len(labels) == 1 else "[" + ", ".join(labels) + "]"
    chosen = f"'{labels[0]}'" if len(labels) == 1 else f"fromJSON('{json.dumps(labels)}')"
    # an Actions expression; its braces are built here because this file is itself a Jinja template
    return "$" + "{" * 2 + " github.event.pull_request.head.repo.fork && 'ubuntu-latest' || " + chosen + " " + "}" * 2


def set_training_runner(root: Path, runs_on: str) -> None:
    """Every workflow is checked before any is written: a template that lost a mark changes nothing."""
    changed = {}
    for name in TRAINING_JOBS:
        text = (root / name).read_text(encoding="utf-8")
        value = runner_value(runs_on, fork_fallback=name.endswith("ci.yml"))
        changed[name], count = RUNS_ON_LINE.subn(lambda m, v=value: m[1] + v + TRAINING_RUNNER_MARK, text)
        if count != 1:
            raise RuntimeError(f"{name}: expected one marked training `runs-on:` line, found {count}")
    for name, text in changed.items():
        write_text_atomically(root / name, text)


def write_text_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recorded_answers(answers: dict) -> dict:
    return {k: v for k, v in answers.items() if k not in UNRECORDED_KEYS and not k.startswith("__")}


def write_json_atomically(path: Path, data: dict) -> None:
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def abbreviations() -> dict[str, str]:
    """The user's cookiecutter abbreviations (~/.cookiecutterrc), else the built-in gh:, gl:, bb:."""
    try:
        from cookiecutter.config import get_user_config

        return {**BUILTIN_ABBREVIATIONS, **get_user_config()["abbreviations"]}
    except Exception:  # the hook runs under cookiecutter's interpreter, but never fails for this
        return dict(BUILTIN_ABBREVIATIONS)


def expand(template: str, known: dict[str, str]) -> str:
    """Cookiecutter's abbreviation expansion (`gh:owner/repo` -> a URL git can clone)."""
    if template in known:
        return known[template]
    prefix, sep, rest = template.partition(":")
    if sep and prefix in known:
        return known[prefix].format(rest)
    return template


def git(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    command = ["git", "-C", str(directory), *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:  # no git on this machine: nothing to record
        return subprocess.CompletedProcess(command, 127, "", f"git could not run: {error}")


def template_folder(answers: dict) -> Path | None:
    """The template folder on this machine (a local template, cookiecutter's clone, an unzipped copy).

    Cookiecutter gives it as `_repo_dir`, as the user typed it; the hook runs in the new project, so a
    relative one (and cruft's renders, which give none) is found as the folder cookiecutter runs the
    hooks from: its own working directory (Linux /proc; elsewhere None, and .cruft.json says so).
    """
    given = answers.get("_repo_dir")
    if given and Path(given).is_absolute():
        return Path(given)
    try:
        folder = Path(f"/proc/{os.getppid()}/cwd").resolve(strict=True)
    except OSError:
        return None
    return folder if (folder / "cookiecutter.json").is_file() else None


def template_answers(folder: Path | None) -> dict:
    """The template's cookiecutter.json, whose key order cruft keeps (the hook's answers come sorted)."""
    try:
        return json.loads((folder / "cookiecutter.json").read_text(encoding="utf-8")) if folder else {}
    except (OSError, ValueError):
        return {}


def ordered_like(value, model):
    """`value` with its mappings' keys in `model`'s order (keys `model` lacks after them)."""
    if not isinstance(value, dict) or not isinstance(model, dict):
        return value
    keys = [k for k in model if k in value] + [k for k in value if k not in model]
    return {k: ordered_like(value[k], model.get(k)) for k in keys}


def cruft_record(answers: dict) -> tuple[dict, list[str], list[str]]:
    """`.cruft.json` as `cruft create` writes it; the reasons cruft cannot use it as it is; notes on it."""
    given = str(answers.get("_template", ""))
    url = expand(given, abbreviations())
    is_url = bool(REPO_URL.match(url))
    if is_url and url.startswith("git+"):
        url = url.removeprefix("git+")  # cookiecutter's VCS prefix; git clones the URL itself
    is_archive = url.lower().endswith(".zip")
    folder = template_folder(answers)
    problems: list[str] = []
    notes: list[str] = []
    commit, directory = COMMIT_UNKNOWN, None
    template = url if is_url or is_archive else str(folder or given)
    if is_archive or (is_url and url.startswith("hg")):
        problems.append(f"{given!r} is not a git repository")
    elif folder is None:
        problems.append(f"the template folder of {given!r} could not be found on this machine")
    else:
        head = git(folder, "rev-parse", "HEAD", "--show-toplevel", "--show-prefix")
        tracked = git(folder, "ls-files", "--error-unmatch", "cookiecutter.json")
        if head.returncode != 0 or tracked.returncode != 0:
            reason = (head.stderr or tracked.stderr or "cookiecutter.json is not committed").strip().splitlines()
            problems.append(f"{folder} is not a git checkout of the template ({reason[0] if reason else '?'})")
        else:
            commit, toplevel, *prefix = [*head.stdout.splitlines(), ""]
            directory = prefix[0].rstrip("/") or None
            if not is_url:
                template = toplevel  # git clones a repository, not a folder inside one
            if git(folder, "status", "--porcelain", "--untracked-files=normal", ".").stdout.strip():
                notes.append(
                    f"{folder} has uncommitted changes: .cruft.json records its last commit {commit[:12]}, "
                    "not exactly what was baked; commit the template before baking to update from exactly this bake"
                )
    model = template_answers(folder)
    context = {**ordered_like(recorded_answers(answers), model), "_template": template, "_commit": commit}
    record = {
        "template": template,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": directory,
        "skip": list(CRUFT_SKIP),
    }
    return record, problems, notes


def rendered_by_cruft(answers: dict) -> bool:
    """cruft (create, update, diff, link) renders with `_commit` in the context and writes .cruft.json itself:
    the hook's copy would be overwritten (create) or, in the two renders `cruft update` diffs, a change to a
    file the project's git history has never held, which turns its three-way merge into .rej files."""
    return "_commit" in answers


def write_cruft_json(path: Path, record: dict) -> None:
    """In cruft's own layout (key order, indent), so its rewrite after `cruft update` is a small diff."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cruft_warning(problems: list[str], notes: list[str]) -> str:
    lines = [f"note: {note}" for note in notes]
    if not problems:
        return "\n".join(lines)
    return "\n".join(
        [
            *lines,
            "warning: .cruft.json cannot take template updates as it is:",
            *(f"  - {problem}" for problem in problems),
            "  To link the project to the template's git repository at the version you baked from:",
            "    rm .cruft.json && cruft link <template git URL> --checkout <tag or commit> --no-input \\",
            '      --extra-context "$(python3 -c \'import json; print(json.dumps(json.load(open(".cookiecutter.json"))["cookiecutter"]))\')"',
        ]
    )


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
    set_training_runner(root, answers["runs_on"])
    pyproject = root / "pyproject.toml"
    pyproject.write_text(toml_escapes(pyproject.read_text(encoding="utf-8")), encoding="utf-8")
    if rendered_by_cruft(answers):
        # cruft's renders name the template as the .cruft.json they come from: the replay file matches the bake
        write_json_atomically(root / ".cookiecutter.json", {"cookiecutter": recorded_answers(answers)})
    else:
        record, problems, notes = cruft_record(answers)
        # the replay file names the template as .cruft.json does, so cruft's renders of it match this bake
        replay = {**recorded_answers(answers), "_template": record["template"]}
        write_json_atomically(root / ".cookiecutter.json", {"cookiecutter": replay})
        write_cruft_json(root / ".cruft.json", record)
        if problems or notes:
            print(cruft_warning(problems, notes), file=sys.stderr)
    print(next_steps(answers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
