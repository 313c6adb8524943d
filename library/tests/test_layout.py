"""The tests mirror the package one to one: tests/<room>/test_<module>.py tests src/modelkeel/<room>/<module>.py."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "src" / "modelkeel"


def test_every_test_module_names_a_module_of_the_package_and_every_room_has_tests():
    modules = {p.relative_to(PACKAGE).with_suffix("").as_posix() for p in PACKAGE.rglob("*.py")}
    tests = [p for p in TESTS.rglob("test_*.py") if "project" not in p.relative_to(TESTS).parts]
    assert tests
    for test in tests:
        mirrored = test.relative_to(TESTS).with_name(test.name.removeprefix("test_")).with_suffix("").as_posix()
        assert mirrored in modules or mirrored == "layout", f"{test.relative_to(TESTS)} mirrors no module"
    rooms = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    tested = {t.relative_to(TESTS).parts[0] for t in tests if len(t.relative_to(TESTS).parts) > 1}
    assert rooms <= tested, f"rooms without tests: {sorted(rooms - tested)}"
