"""A reader of the generated Dockerfile and its .dockerignore, for the offline stand-ins and tests.

No container engine runs offline, so two things read the Dockerfile instead of building it: the
docker/build-push-action stand-in (`actions.py`), which checks that the build context holds every
file the Dockerfile copies and that .dockerignore lets each one through, and
`tests/test_runtime_install.py`, which runs the build stage's RUN commands and the final stage's
ENTRYPOINT + CMD in a plain virtual environment.

It reads the subset of the Dockerfile syntax the template writes and refuses the rest with a
ValueError naming the line, so a Dockerfile change it cannot read fails the tests instead of passing
unchecked: instructions with backslash continuations and comments, `FROM image [AS name]`, `ARG NAME`
and `ARG NAME=default`, `ENV KEY=VALUE ...`, `COPY [--from=stage] [--chmod=..] [--chown=..] src... dest`
(shell form), `RUN` (shell form), and `ENTRYPOINT` / `CMD` / `HEALTHCHECK [options] CMD` in exec
(JSON) form; `$NAME` and `${NAME}` are substituted from ARG and ENV values. The .dockerignore rules
are Docker's: patterns in order, the last match wins, `!` re-includes, `*` and `?` stay within one
path segment, `**` spans segments, and a pattern that matches a folder matches everything in it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

KEYWORDS = {"FROM", "ARG", "ENV", "LABEL", "COPY", "RUN", "WORKDIR", "USER", "EXPOSE", "STOPSIGNAL"}
KEYWORDS |= {"HEALTHCHECK", "ENTRYPOINT", "CMD"}
# what a base image's own environment gives an ENV that extends it (the python images' PATH)
BASE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"}
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def refuse(self, why: str) -> ValueError:
        return ValueError(f"Dockerfile line {self.line}: {self.keyword} {self.args[:80]!r}: {why}")


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        if not found:
            raise ValueError(f"Dockerfile stage from line {self.line} ({self.base}) has no {keyword}")
        return found[-1]


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str
    stage: str | None  # --from


def instructions(text: str) -> list[Instruction]:
    """Every instruction, continuations joined and comments dropped (a comment line inside a continuation too)."""
    found: list[Instruction] = []
    current, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        if instruction.keyword not in KEYWORDS:
            raise instruction.refuse(f"this reader knows only {sorted(KEYWORDS)}")
        found.append(instruction)
        current = ""
    if current:
        raise ValueError(f"Dockerfile line {start}: the file ends inside a continuation (a trailing backslash)")
    return found


def parse(text: str) -> tuple[dict[str, str | None], list[Stage]]:
    """The global ARGs (before the first FROM) and the stages."""
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            if any(w.startswith("--") for w in words):
                raise instruction.refuse("FROM flags (--platform) are not read")
            if len(words) == 1:
                stages.append(Stage(words[0], None, instruction.line))
            elif len(words) == 3 and words[1].upper() == "AS":
                stages.append(Stage(words[0], words[2], instruction.line))
            else:
                raise instruction.refuse("expected FROM image [AS name]")
        elif not stages:
            if instruction.keyword != "ARG":
                raise instruction.refuse("only ARG may come before the first FROM")
            global_args.update(arg_declaration(instruction))
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise ValueError("the Dockerfile has no FROM")
    return global_args, stages


def arg_declaration(instruction: Instruction) -> dict[str, str | None]:
    name, has_default, default = instruction.args.partition("=")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or " " in instruction.args:
        raise instruction.refuse("expected ARG NAME or ARG NAME=default (one per line)")
    return {name: default if has_default else None}


def substitute(text: str, values: dict[str, str | None], instruction: Instruction | None = None) -> str:
    """$NAME and ${NAME} replaced by their values; a name with no value is an error, not an empty string."""

    def value(match: re.Match) -> str:
        name = match[1] or match[2]
        if values.get(name) is None:
            where = f"Dockerfile line {instruction.line}: " if instruction else ""
            raise ValueError(f"{where}${name} has no value (a build-arg with no default, or no such ARG/ENV)")
        return str(values[name])

    return VARIABLE.sub(value, text)


def env_pairs(instruction: Instruction, values: dict[str, str | None]) -> dict[str, str]:
    pairs = {}
    for word in shlex.split(instruction.args):
        key, has_value, raw = word.partition("=")
        if not has_value:
            raise instruction.refuse("expected ENV KEY=VALUE pairs")
        pairs[key] = substitute(raw, {**values, **pairs}, instruction)
    return pairs


def copy(instruction: Instruction, values: dict[str, str | None]) -> Copy:
    words = substitute(instruction.args, values, instruction).split()
    stage = None
    while words and words[0].startswith("--"):
        flag, _, setting = words.pop(0).partition("=")
        if flag == "--from":
            stage = setting
        elif flag not in ("--chmod", "--chown", "--link"):
            raise instruction.refuse(f"COPY flag {flag} is not read")
    if words and words[0].startswith("["):
        raise instruction.refuse("COPY in JSON form is not read; use the shell form")
    if len(words) < 2:
        raise instruction.refuse("expected COPY source... destination")
    return Copy(tuple(words[:-1]), words[-1], stage)


def exec_form(instruction: Instruction, text: str | None = None) -> list[str]:
    try:
        words = json.loads(instruction.args if text is None else text)
    except json.JSONDecodeError:
        words = None
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        raise instruction.refuse("expected the exec form: a JSON list of strings")
    return words


def healthcheck(instruction: Instruction) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK [--option=value ...] CMD [...]: the options and the command."""
    options, _, command = instruction.args.partition(" CMD ")
    if not command:
        raise instruction.refuse("expected HEALTHCHECK [options] CMD [...] (not NONE)")
    parsed = {}
    for word in options.split():
        key, has_value, value = word.partition("=")
        if not key.startswith("--") or not has_value:
            raise instruction.refuse(f"HEALTHCHECK option {word!r} is not --name=value")
        parsed[key[2:]] = value
    return parsed, exec_form(instruction, command)


def stage_values(
    global_args: dict[str, str | None],
    stage: Stage,
    build_args: dict[str, str],
    upto: Instruction | None = None,
    base_env: dict[str, str] | None = None,
) -> dict[str, str | None]:
    """ARG (a build-arg, else its default) and ENV values in force in a stage, before `upto` if given;
    `base_env` stands for the base image's environment (PATH, say).

    As in Docker, a global ARG is seen in a stage only once the stage declares it again (ARG NAME)."""
    values: dict[str, str | None] = dict(base_env or {})
    for instruction in stage.instructions:
        if instruction is upto:
            break
        if instruction.keyword == "ARG":
            for name, default in arg_declaration(instruction).items():
                inherited = global_args.get(name)
                values[name] = build_args.get(name, default if default is not None else inherited)
        elif instruction.keyword == "ENV":
            values.update(env_pairs(instruction, values))
    return values


def declared_args(global_args: dict[str, str | None], stages: list[Stage]) -> set[str]:
    names = set(global_args)
    for stage in stages:
        for instruction in stage.all("ARG"):
            names |= set(arg_declaration(instruction))
    return names


# --- .dockerignore ----------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # **/ : zero or more folders
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f".dockerignore pattern {pattern!r}: an unclosed [")
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body[:1] in ("!", "^") else body) + "]"
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out)


class DockerIgnore:
    """The exclusion rules of a build context's .dockerignore (none when there is no file)."""

    def __init__(self, text: str = "") -> None:
        self.rules: list[tuple[bool, re.Pattern, str]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line[1:].strip() if negated else line
            pattern = re.sub(r"/+", "/", pattern).strip("/")
            pattern = "/".join(p for p in pattern.split("/") if p != ".")
            if not pattern:
                continue
            self.rules.append((negated, _pattern_regex(pattern), line))

    @classmethod
    def of(cls, context: Path) -> DockerIgnore:
        path = context / ".dockerignore"
        return cls(path.read_text(encoding="utf-8") if path.is_file() else "")

    def excluded(self, relative: str) -> bool:
        """Whether a path relative to the context (with / separators) is left out of the build context."""
        parts = relative.strip("/").split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for negated, regex, _ in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                result = not negated
        return result
