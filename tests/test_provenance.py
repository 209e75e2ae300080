"""hfc.provenance's code fingerprints and the cache of parsed sources behind them.

The end-to-end behaviour (an edit reruns exactly the jobs that reach it, a comment-only edit
reruns nothing) is tested in tests/test_reruns.py; here the cache that keeps repeated
Snakemake calls from parsing the package again must never change a fingerprint.
"""

import json
import os
import shutil

import pytest

from hfc import provenance


@pytest.fixture
def package(tmp_path):
    """A two-module copy of the layout: a script that imports hfc.b, which imports hfc.c."""
    root = tmp_path / "repo"
    (root / "hfc").mkdir(parents=True)
    (root / "workflow_scripts").mkdir()
    (root / "hfc/__init__.py").write_text("")
    (root / "hfc/b.py").write_text("from hfc import c\n\ndef f():\n    return c.g() + 1\n")
    (root / "hfc/c.py").write_text("def g():\n    return 1\n")
    (root / "hfc/unused.py").write_text("X = 1\n")
    script = root / "workflow_scripts/job.py"
    script.write_text("from hfc.b import f\n\nprint(f())\n")
    return root, script


def _new_process():
    """Forget what this process parsed, as a new Snakemake call would."""
    provenance._parsed_version.cache_clear()
    provenance._reached.cache_clear()
    provenance._disk.clear()
    provenance._unsaved.clear()


def _cache(root):
    return root / "hfc/__pycache__" / provenance._CACHE_NAME


def test_a_cached_parse_gives_the_fingerprint_of_a_fresh_one(package):
    root, script = package
    _new_process()
    cold = provenance.code_fingerprint(script, root)
    assert _cache(root).is_file()
    names = set(json.loads(_cache(root).read_text()))
    assert names == {"workflow_scripts/job.py", "hfc/__init__.py", "hfc/b.py", "hfc/c.py"}
    _new_process()
    assert provenance.code_fingerprint(script, root) == cold
    _new_process()
    _cache(root).unlink()
    assert provenance.code_fingerprint(script, root) == cold
    assert [p.name for p in provenance.imported_modules(script, root)] == ["__init__.py", "b.py", "c.py"]


def test_an_edit_changes_the_fingerprint_although_the_cache_knows_the_old_file(package):
    root, script = package
    _new_process()
    before = provenance.code_fingerprint(script, root)
    _new_process()
    c = root / "hfc/c.py"
    stat = c.stat()
    # Same size and modification time as before: only the bytes tell the versions apart.
    c.write_text("def g():\n    return 2\n")
    os.utime(c, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert c.stat().st_size == stat.st_size
    after = provenance.code_fingerprint(script, root)
    assert after != before
    _new_process()
    assert provenance.code_fingerprint(script, root) == after
    # a comment is not code: the fingerprint of the edited version stays
    _new_process()
    c.write_text("def g():  # two\n    return 2\n")
    assert provenance.code_fingerprint(script, root) == after


def test_a_new_import_is_followed_with_a_warm_cache(package):
    root, script = package
    _new_process()
    before = provenance.code_fingerprint(script, root)
    _new_process()
    (root / "hfc/c.py").write_text("from hfc import unused\n\ndef g():\n    return 1\n")
    assert "unused.py" in [p.name for p in provenance.imported_modules(script, root)]
    assert provenance.code_fingerprint(script, root) != before


@pytest.mark.parametrize("damage", ["not json {", "[1, 2]", '{"hfc/b.py": {"sha256": 5}}', ""])
def test_a_damaged_cache_is_parsed_again_and_replaced(package, damage):
    root, script = package
    _new_process()
    expected = provenance.code_fingerprint(script, root)
    _new_process()
    _cache(root).write_text(damage)
    assert provenance.code_fingerprint(script, root) == expected
    assert "hfc/b.py" in json.loads(_cache(root).read_text())


def test_a_forged_entry_for_other_bytes_is_not_used(package):
    root, script = package
    _new_process()
    expected = provenance.code_fingerprint(script, root)
    cache = json.loads(_cache(root).read_text())
    cache["hfc/c.py"] = {"sha256": "0" * 64, "imports": [], "tree": "f" * 64}
    _cache(root).write_text(json.dumps(cache))
    _new_process()
    assert provenance.code_fingerprint(script, root) == expected


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_package_folder_still_gives_fingerprints(package):
    root, script = package
    _new_process()
    expected = provenance.code_fingerprint(script, root)
    shutil.rmtree(root / "hfc/__pycache__")
    (root / "hfc").chmod(0o555)
    try:
        _new_process()
        assert provenance.code_fingerprint(script, root) == expected
        assert not (root / "hfc/__pycache__").exists()
    finally:
        (root / "hfc").chmod(0o755)


def test_a_cache_that_cannot_be_written_still_gives_fingerprints(package, monkeypatch):
    # As root (CI) a read-only folder is still writable: fail the write itself instead.
    root, script = package
    _new_process()
    expected = provenance.code_fingerprint(script, root)
    shutil.rmtree(root / "hfc/__pycache__")
    (root / "hfc/__pycache__").write_text("a file where the folder would be")
    _new_process()
    assert provenance.code_fingerprint(script, root) == expected
    assert not list((root / "hfc").glob("*.tmp"))
