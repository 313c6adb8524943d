"""What changed between two bundles, and the smallest honest version bump for it.

- major: the ONNX input/output signature or a classifier's classes changed, or the schema accepts less
  than it did (a column added or removed, a narrower type, range or set of values): it breaks consumers.
  A schema that only accepts more (int -> float, gaps allowed, bounds widened or removed) does not;
  expectations (a Field's metadata) are no rules and never reach the bundle's schema.yaml;
- minor: the model was retrained on other data (the data fingerprint changed);
- patch: anything else (params, code, environment, a wider schema).

Reads the bundles' JSON/YAML files and the ONNX model's metadata (its classes); imports neither
scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import re

from ..bundle.reader import Bundle
from .versions import Bump

# what a column's YAML spec may say besides its checks, and nothing about which values it accepts
DESCRIPTIVE = frozenset({"title", "description", "coerce", "metadata"})
KNOWN = frozenset(
    {"dtype", "nullable", "required", "unique", "regex", "isin", "notin", "in_range"}
    | {"greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to"}
)
_NUMBER_TYPE = re.compile(r"^(u?int|float)(\d*)$")


def _number_type(dtype: object) -> tuple[str, int] | None:
    match = _NUMBER_TYPE.match(str(dtype).lower())
    return (match.group(1), int(match.group(2) or 64)) if match else None


def _type_widens(old: object, new: object) -> bool:
    """The new type accepts every value of the old: the same, an int read as a float, or more bits."""
    if old == new:
        return True
    o, n = _number_type(old), _number_type(new)
    if o is None or n is None:
        return False
    if n[0] == "float":
        return o[0] != "float" or n[1] >= o[1]  # a float accepts every int
    return o[0] != "float" and n[1] >= o[1] and (o[0] == n[0] or (o[0] == "uint" and n[1] > o[1]))


def _bound(spec: dict, side: str) -> tuple[object, bool] | None:
    """The column's tightest lower (side "min") or upper ("max") bound: (value, strict), None for none."""
    inclusive, strict = (
        ("greater_than_or_equal_to", "greater_than") if side == "min" else ("less_than_or_equal_to", "less_than")
    )
    found = []
    if spec.get(inclusive) is not None:
        found.append((spec[inclusive], False))
    if spec.get(strict) is not None:
        found.append((spec[strict], True))
    in_range = spec.get("in_range") or {}
    if in_range.get(f"{side}_value") is not None:
        found.append((in_range[f"{side}_value"], not in_range.get(f"include_{side}", True)))
    if not found:
        return None
    pick = max if side == "min" else min
    return pick(found, key=lambda b: (b[0], b[1] if side == "min" else not b[1]))


def _narrower(old: tuple[object, bool] | None, new: tuple[object, bool] | None, side: str) -> bool:
    """Whether the new bound refuses a value the old one accepted."""
    if new is None:
        return False
    if old is None:
        return True
    try:
        if old[0] != new[0]:
            return bool(new[0] > old[0]) if side == "min" else bool(new[0] < old[0])  # type: ignore[operator]
    except TypeError:  # bounds of different kinds (a date and a number): not comparable, so not provably wider
        return True
    return new[1] and not old[1]


def breaks_consumers(old: dict | None, new: dict | None) -> str | None:
    """Why a column's new contract rejects input the old one accepted (None when it does not).

    Only a narrowing breaks consumers: a wider type (int -> float), missing values allowed, bounds
    widened or removed, more allowed values. Expectations (metadata) are never in the YAML and never break."""
    if old is None:
        return "added (consumers do not send it)"
    if new is None:
        return "removed"
    if not _type_widens(old.get("dtype"), new.get("dtype")):
        return f"type {old.get('dtype')} -> {new.get('dtype')}"
    if old.get("nullable") and not new.get("nullable"):
        return "no longer accepts missing values"
    if old.get("required", True) is False and new.get("required", True) is not False:
        return "now required"
    if new.get("unique") and not old.get("unique"):
        return "now requires unique values"
    old_allowed, new_allowed = old.get("isin"), new.get("isin")
    if new_allowed is not None and (old_allowed is None or not set(old_allowed) <= set(new_allowed)):
        return "accepts fewer values"
    if not set(new.get("notin") or []) <= set(old.get("notin") or []):
        return "refuses more values"
    for side, word in (("min", "lower"), ("max", "upper")):
        o, n = _bound(old, side), _bound(new, side)
        if _narrower(o, n, side):
            shown = [
                "none" if b is None else f"{'>' if side == 'min' else '<'}{'' if b[1] else '='} {b[0]}" for b in (o, n)
            ]
            return f"narrower range ({word} bound {shown[0]} -> {shown[1]})"
    for key in sorted((set(old) | set(new)) - KNOWN - DESCRIPTIVE):  # any other check: added or changed narrows
        if key in new and old.get(key) != new.get(key):
            return f"check {key} added or changed ({old.get(key)} -> {new.get(key)})"
    if old.get("regex", False) != new.get("regex", False):
        return "column names matched differently (regex)"
    return None


def _signature_shape(signature: dict) -> dict:
    return {
        "task": signature.get("task"),
        "target": signature.get("target"),
        # the graph's own input names follow from these (skl2onnx makes identifiers of them)
        "inputs": [
            (i["name"], i.get("kind"), i["onnx_type"], tuple(i.get("parts", ()))) for i in signature.get("inputs", [])
        ],
        "outputs": [o["name"] for o in signature.get("outputs", [])],
    }


def diff(old: Bundle, new: Bundle) -> dict:
    """What changed between two opened bundles."""
    lo, ln = old.lineage, new.lineage
    params_old, params_new = _flatten(lo.get("params", {})), _flatten(ln.get("params", {}))
    params = {
        key: {"old": params_old.get(key), "new": params_new.get(key)}
        for key in sorted(set(params_old) | set(params_new))
        if params_old.get(key) != params_new.get(key)
    }
    files_old = {f.get("url") or f["path"]: f for f in lo["data"]["files"]}  # data behind a URL: named by it
    files_new = {f.get("url") or f["path"]: f for f in ln["data"]["files"]}
    data = {
        "changed": lo["data"]["fingerprint"] != ln["data"]["fingerprint"],
        "rows": {"old": lo["data"]["rows"], "new": ln["data"]["rows"]},
        "added": sorted(set(files_new) - set(files_old)),
        "removed": sorted(set(files_old) - set(files_new)),
        "modified": sorted(
            {
                p: {"old_rows": files_old[p]["rows"], "new_rows": files_new[p]["rows"]}
                for p in set(files_old) & set(files_new)
                if files_old[p]["sha256"] != files_new[p]["sha256"]
            }.items()
        ),
    }
    metrics_old = lo.get("metrics", {}).get("test", {})
    metrics_new = ln.get("metrics", {}).get("test", {})
    metrics = {
        name: {
            "old": metrics_old.get(name),
            "new": metrics_new.get(name),
            "delta": None
            if metrics_old.get(name) is None or metrics_new.get(name) is None
            else metrics_new[name] - metrics_old[name],
        }
        for name in sorted(set(metrics_old) | set(metrics_new))
    }
    sig_old, sig_new = _signature_shape(old.signature), _signature_shape(new.signature)
    signature_changes = {k: {"old": sig_old[k], "new": sig_new[k]} for k in sig_old if sig_old[k] != sig_new[k]}
    if "classification" in (old.task, new.task):  # the probability outputs, one per class, in this order
        classes_old = old.classes if old.task == "classification" else None
        classes_new = new.classes if new.task == "classification" else None
        if classes_old != classes_new:
            signature_changes["classes"] = {"old": classes_old, "new": classes_new}
    schema_changes = {
        column: {"old": old.schema_columns.get(column), "new": new.schema_columns.get(column)}
        for column in sorted(set(old.schema_columns) | set(new.schema_columns))
        if old.schema_columns.get(column) != new.schema_columns.get(column)
    }
    return {
        "versions": {"old": lo.get("version"), "new": ln.get("version")},
        "target": sig_new["target"],
        "params": params,
        "data": data,
        "metrics": metrics,
        "signature": signature_changes,
        "schema": schema_changes,
        "model": {
            "old_sha256": lo["model"]["sha256"],
            "new_sha256": ln["model"]["sha256"],
            "identical": lo["model"]["sha256"] == ln["model"]["sha256"],
        },
        "environment": {
            k: {"old": lo["environment"]["packages"].get(k), "new": ln["environment"]["packages"].get(k)}
            for k in sorted(set(lo["environment"]["packages"]) | set(ln["environment"]["packages"]))
            if lo["environment"]["packages"].get(k) != ln["environment"]["packages"].get(k)
        },
    }


def required_bump(changes: dict) -> tuple[Bump, list[str]]:
    """The smallest honest bump for these changes, and why."""
    reasons = [f"signature {k} changed" for k in changes["signature"]]
    for column, change in changes["schema"].items():
        why = breaks_consumers(change["old"], change["new"])
        classes_changed = change["old"] and change["new"] and change["old"].get("isin") != change["new"].get("isin")
        if column == changes.get("target") and classes_changed:
            why = "the set of classes changed (the probability outputs change)"
        if why:
            reasons.append(f"schema column {column!r}: {why}")
    if reasons:
        return "major", reasons
    if changes["data"]["changed"]:
        return "minor", ["retrained on other data (the data fingerprint changed)"]
    return "patch", ["same data and signature; params, code or environment changed"]


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def format_diff(changes: dict) -> str:
    v = changes["versions"]
    lines = [f"diff {v['old']} -> {v['new']}"]
    kind, reasons = required_bump(changes)
    lines.append(f"  required bump: {kind} ({'; '.join(reasons)})")
    data = changes["data"]
    if data["changed"]:
        lines.append(f"  data: changed, rows {data['rows']['old']} -> {data['rows']['new']}")
        lines += [f"    + {p}" for p in data["added"]]
        lines += [f"    - {p}" for p in data["removed"]]
        lines += [f"    ~ {p} (rows {r['old_rows']} -> {r['new_rows']})" for p, r in data["modified"]]
    else:
        lines.append("  data: unchanged")
    if changes["params"]:
        lines.append("  params:")
        lines += [f"    {k}: {c['old']!r} -> {c['new']!r}" for k, c in changes["params"].items()]
    else:
        lines.append("  params: unchanged")
    for name, c in changes["signature"].items():
        lines.append(f"  signature {name}: {c['old']} -> {c['new']}")
    for column, c in changes["schema"].items():
        lines.append(f"  schema {column}: {c['old']} -> {c['new']}")
    lines.append("  metrics (test):")
    for name, c in changes["metrics"].items():
        delta = "" if c["delta"] is None else f" ({c['delta']:+.4f})"
        lines.append(f"    {name}: {c['old']} -> {c['new']}{delta}")
    model = changes["model"]
    lines.append(
        "  model.onnx: identical bytes"
        if model["identical"]
        else f"  model.onnx: different bytes ({model['old_sha256'][:12]} -> {model['new_sha256'][:12]})"
    )
    for name, c in changes["environment"].items():
        lines.append(f"  environment {name}: {c['old']} -> {c['new']}")
    return "\n".join(lines)
