"""Lineage: which code, data, params and environment made a bundle, printed for people."""

from {{ cookiecutter.package_name }}.bundle.lineage import format_lineage
from {{ cookiecutter.package_name }}.bundle.reader import open_bundle


def test_lineage_reads_well(bundle_dir):
    text = format_lineage(open_bundle(bundle_dir).lineage)
    for fragment in (
        "code:",
        "data:",
        "data/raw/penguins.csv",
        "schema:",
        "params:",
        "env:",
        "scikit-learn",
        "model.onnx sha256",
    ):
        assert fragment in text
