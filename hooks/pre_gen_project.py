"""Check every answer before cookiecutter writes anything.

The answers reach this hook as JSON data (never pasted into Python source), so a
quote or a backslash in a name cannot change what the hook does. A bad answer
prints one message naming the field and the accepted form, and the hook exits 1;
cookiecutter then deletes the half-made project directory.
"""

from __future__ import annotations

import itertools
import json
import keyword
import math
import re
import sys

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "task": ("classification", "regression"),
    "model": ("random_forest", "linear", "gradient_boosting", "lightgbm", "xgboost"),
    "license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
}


# Top-level modules installed in the generated project's environment (uv.lock): a package of the
# same name would shadow them. The template's tests check this list against a real installation.
DEPENDENCY_MODULES = frozenset(
    [
        "_pytest",
        "_yaml",
        "annotated_doc",
        "annotated_types",
        "anyio",
        "asn1crypto",
        "blake3",
        "certifi",
        "cffi",
        "charset_normalizer",
        "click",
        "cloudpickle",
        "coloredlogs",
        "contourpy",
        "cryptography",
        "cycler",
        "dask",
        "dateutil",
        "distributed",
        "dns",
        "email_validator",
        "fastapi",
        "flatbuffers",
        "fontTools",
        "fsspec",
        "google",
        "graphql",
        "h11",
        "harfile",
        "httpcore",
        "httptools",
        "httpx",
        "humanfriendly",
        "hypothesis",
        "hypothesis_graphql",
        "id",
        "idna",
        "importlib_metadata",
        "in_toto_attestation",
        "iniconfig",
        "isympy",
        "jinja2",
        "joblib",
        "jsonschema_rs",
        "jwt",
        "kiwisolver",
        "lazy_importer",
        "librt",
        "lightgbm",
        "locket",
        "markdown_it",
        "markupsafe",
        "matplotlib",
        "mdurl",
        "ml_dtypes",
        "model_signing",
        "modelkeel",
        "mpl_toolkits",
        "mpmath",
        "msgpack",
        "mypy",
        "mypy_extensions",
        "mypyc",
        "narwhals",
        "numpy",
        "onnx",
        "onnxconverter_common",
        "onnxmltools",
        "onnxruntime",
        "OpenSSL",
        "opentelemetry",
        "packaging",
        "pandas",
        "pandera",
        "partd",
        "pathspec",
        "PIL",
        "pil",
        "platformdirs",
        "pluggy",
        "prometheus_client",
        "protobuf",
        "psutil",
        "py",
        "pyarrow",
        "pycparser",
        "pydantic",
        "pydantic_core",
        "pygments",
        "pylab",
        "pyparsing",
        "pyrate_limiter",
        "pytest",
        "pytz",
        "rekor_types",
        "requests",
        "rfc3161_client",
        "rfc8785",
        "rich",
        "ruamel",
        "ruff",
        "schemathesis",
        "scipy",
        "securesystemslib",
        "sigstore",
        "sigstore_models",
        "six",
        "skl2onnx",
        "sklearn",
        "sortedcontainers",
        "starlette",
        "sympy",
        "tblib",
        "threadpoolctl",
        "tlz",
        "toolz",
        "tornado",
        "tuf",
        "typeguard",
        "typing_extensions",
        "typing_inspect",
        "typing_inspection",
        "tzdata",
        "urllib3",
        "uvicorn",
        "uvloop",
        "werkzeug",
        "xgboost",
        "yaml",
        "zict",
        "zipp",
    ]
)
# Names the generated project uses for itself: the tests package and pytest's conftest.
PROJECT_MODULES = frozenset({"tests", "conftest"})

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
GITHUB_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")

CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
        },
    ),
    ("day of week", 0, 6, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)
MIN_CRON_INTERVAL_MINUTES = 5

# A runner label: a GitHub-hosted image (ubuntu-24.04), a larger runner's name, or a self-hosted label.
# Nothing else reaches the workflow: no quotes, spaces, `$` or braces, so an answer cannot become YAML or an expression.
RUNNER_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
MAX_RUNNER_LABELS = 10
NOT_LINUX = ("windows", "macos")  # the training jobs run make and bash steps written for Linux


class AnswerError(ValueError):
    """An answer that cannot be used; the message names the field and the accepted form."""

    def __init__(self, field: str, value: object, accepted: str) -> None:
        super().__init__(f"{field}={value!r} is not accepted: {accepted}")
        self.field = field


def _single_line(field: str, value: object, *, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AnswerError(field, value, "give a non-empty text")
    if any(ch in value for ch in "\r\n\t\x00") or not value.isprintable():
        raise AnswerError(field, value, "give one line of printable text (no newlines or control characters)")
    if len(value) > max_len:
        raise AnswerError(field, value, f"give at most {max_len} characters")
    return value


def check_slug(value: object) -> None:
    if not isinstance(value, str) or not SLUG_RE.match(value) or len(value) > 64:
        raise AnswerError(
            "project_slug",
            value,
            "lowercase ASCII letters and digits in words joined by single hyphens, starting with a letter, "
            "at most 64 characters (e.g. churn-model)",
        )


def check_package_name(value: object) -> None:
    form = "a lowercase Python identifier of ASCII letters, digits and underscores (e.g. churn_model)"
    if not isinstance(value, str) or not PACKAGE_RE.match(value) or not value.isidentifier():
        raise AnswerError("package_name", value, form)
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise AnswerError("package_name", value, f"{form}; it must not be a Python keyword")
    if value in sys.stdlib_module_names:
        raise AnswerError("package_name", value, f"{form}; it must not shadow the standard-library module {value!r}")
    if value in DEPENDENCY_MODULES:
        raise AnswerError("package_name", value, f"{form}; it must not shadow the dependency {value!r}")
    if value in PROJECT_MODULES:
        raise AnswerError("package_name", value, f"{form}; {value!r} is taken by the project's own tests")


def check_email(value: object) -> None:
    if not isinstance(value, str) or not EMAIL_RE.match(value) or len(value) > 254:
        raise AnswerError("author_email", value, "an email address like name@example.com")


def check_github_owner(value: object) -> None:
    if not isinstance(value, str) or not GITHUB_OWNER_RE.match(value):
        raise AnswerError(
            "github_owner",
            value,
            "a GitHub user or organisation name: letters, digits and single hyphens, at most 39 characters",
        )


def _cron_values(field: str, low: int, high: int, names: dict[str, int], text: str) -> set[int]:
    accepted = f"numbers {low}-{high}, '*', ranges a-b, steps */n or a-b/n, or comma lists"

    def number(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError
        n = int(token)
        if not low <= n <= high:
            raise ValueError
        return n

    values: set[int] = set()
    try:
        for part in text.split(","):
            base, _, step_text = part.partition("/")
            step = int(step_text) if step_text else 1
            if step_text and (not step_text.isdigit() or step < 1):
                raise ValueError
            if base == "*":
                start, stop = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, stop = number(a), number(b)
                if start > stop:
                    raise ValueError
            else:
                start = number(base)
                stop = high if step_text else start
            values.update(range(start, stop + 1, step))
    except ValueError:
        raise AnswerError("retrain_cron", text, f"the {field} field takes {accepted}") from None
    return values


def check_cron(value: object) -> None:
    form = "five fields 'minute hour day-of-month month day-of-week' in UTC, e.g. '17 3 * * 1'"
    if not isinstance(value, str) or len(value.split()) != 5:
        raise AnswerError("retrain_cron", value, form)
    fields = value.split()
    sets = [
        _cron_values(name, low, high, names, text)
        for (name, low, high, names), text in zip(CRON_FIELDS, fields, strict=True)
    ]
    minutes = sorted(sets[0])
    gaps = [b - a for a, b in itertools.pairwise(minutes)]
    hours = sets[1]
    if any((h + 1) % 24 in hours for h in hours):  # consecutive hours: the gap wraps around the hour
        gaps.append(60 - minutes[-1] + minutes[0])
    if gaps and min(gaps) < MIN_CRON_INTERVAL_MINUTES:
        raise AnswerError(
            "retrain_cron",
            value,
            f"GitHub runs schedules at most every {MIN_CRON_INTERVAL_MINUTES} minutes; "
            f"{form} with minutes at least {MIN_CRON_INTERVAL_MINUTES} apart",
        )


def check_runs_on(value: object) -> list[str]:
    """The labels of the training runner; the workflows render them as one label or a YAML list."""
    form = (
        "one runner label (ubuntu-latest, ubuntu-24.04, a larger runner's name such as ubuntu-24.04-16core) "
        "or self-hosted labels joined by commas (self-hosted, linux, x64, gpu); a label is letters, digits, "
        f"'.', '_' and '-', at most 100 characters, and at most {MAX_RUNNER_LABELS} labels"
    )
    if not isinstance(value, str) or not value.strip():
        raise AnswerError("runs_on", value, form)
    labels = [label.strip() for label in value.split(",")]
    if len(labels) > MAX_RUNNER_LABELS or not all(RUNNER_LABEL_RE.match(label) for label in labels):
        raise AnswerError("runs_on", value, form)
    if len({label.lower() for label in labels}) != len(labels):
        raise AnswerError("runs_on", value, f"{form}; each label once (labels are case-insensitive)")
    if any(label.lower().startswith(NOT_LINUX) for label in labels):
        raise AnswerError("runs_on", value, f"a Linux runner: the training jobs run make and bash steps; {form}")
    return labels


def normalise_metric(value: object) -> object:
    """A metric name in any case and with surrounding spaces (` ROC_AUC `) means the lowercase name.

    params.yaml and cookiecutter.json apply the same `| trim | lower` to the answer when they render it.
    """
    return value.strip().lower() if isinstance(value, str) else value


def check_metric(task: object, metric: object, threshold: object, metrics: dict) -> None:
    """`metrics` is the template's `_metrics` table (cookiecutter.json): the generated package's
    quality/metrics.py and params.yaml are rendered from the same table."""
    for_task = [m for m, facts in metrics.items() if facts["task"] == task]
    name = normalise_metric(metric)
    if not isinstance(name, str) or name not in metrics or metrics[name]["task"] != task:
        raise AnswerError("primary_metric", metric, f"for task {task!r} choose one of {', '.join(for_task)} (any case)")
    metric = name
    facts = metrics[metric]
    low = float(facts["threshold_above"])
    high = math.inf if facts["threshold_at_most"] is None else float(facts["threshold_at_most"])
    text = str(threshold).strip()
    value = float(text) if re.fullmatch(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+", text) else math.nan
    bounded = high != math.inf
    ok = math.isfinite(value) and low < value and (value <= high if bounded else True)
    if metric == "r2":
        ok = ok and value < high
    if not ok:
        upper = f"at most {high:g}" if bounded and metric != "r2" else "below 1" if bounded else "finite"
        raise AnswerError(
            "metric_threshold",
            threshold,
            f"a number above {low:g} and {upper} for {metric} ({facts['better']} is better)",
        )


def validate(answers: dict) -> None:
    """Raise AnswerError for the first answer that cannot be used."""
    for field in ("project_name", "description", "author_name"):
        _single_line(field, answers.get(field))
    for field, allowed in CHOICES.items():
        if answers.get(field) not in allowed:
            raise AnswerError(field, answers.get(field), f"one of {', '.join(allowed)}")
    check_slug(answers.get("project_slug"))
    check_package_name(answers.get("package_name"))
    check_email(answers.get("author_email"))
    check_github_owner(answers.get("github_owner"))
    check_metric(
        answers.get("task"), answers.get("primary_metric"), answers.get("metric_threshold"), answers["_metrics"]
    )
    check_cron(answers.get("retrain_cron"))
    check_runs_on(answers.get("runs_on"))


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    try:
        validate(answers)
    except AnswerError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
