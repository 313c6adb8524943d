from modelkeel.data.files import read_table, resolve_files
from modelkeel.data.snapshot import fingerprint
from modelkeel.utils.hashing import sha256_file


def test_fingerprint_names_every_file_and_changes_with_one_byte(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x,y\n1,2\n")
    b.write_text("x,y\n3,4\n5,6\n")
    files = resolve_files("*.csv", tmp_path)
    _, rows = read_table(files)
    first = fingerprint(files, rows, tmp_path)
    assert [f["path"] for f in first["files"]] == ["a.csv", "b.csv"]
    assert [f["rows"] for f in first["files"]] == [1, 2]
    assert first["files"][0]["sha256"] == sha256_file(a)
    b.write_text("x,y\n3,4\n5,7\n")
    assert fingerprint(files, rows, tmp_path)["fingerprint"] != first["fingerprint"]
