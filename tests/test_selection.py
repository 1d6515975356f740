"""`ezhd certify --only ID` collects only the test files that hold ID's tests, as the last full
collection of the same sources found them (`conformance.session.selection`, issue 18): a
changed source, a collection with errors or no cache means collecting everything again."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.session import prepare, selection
from conformance.session.run import RunPlugin

ROOT = Path(__file__).resolve().parent.parent
LINKING = "conformance/auth/test_linking.py"
SBOM = "conformance/free/test_sbom.py"
COLLECTED = {f"{LINKING}::test_a": ["AUTH-05"], f"{LINKING}::test_b[x]": ["AUTH-05", "AUTH-06"],
             f"{SBOM}::test_c": ["FREE-01"]}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(prepare.CACHE_ENV, str(tmp_path / "cache"))


def test_only_the_files_holding_the_requirements_are_collected():
    assert selection.files_for(("AUTH-06",)) is None       # nothing known yet: collect everything
    selection.store(COLLECTED)
    assert selection.files_for(("AUTH-06",)) == [ROOT / LINKING]
    assert selection.files_for(("FREE-01", "AUTH-05")) == [ROOT / LINKING, ROOT / SBOM]
    assert selection.files_for(("LOG-01",)) is None         # no known test: let the collection say so
    assert selection.tests() == COLLECTED                   # -j plans its parts from it, in order


def test_a_changed_source_or_no_cache_collects_everything(monkeypatch):
    selection.store(COLLECTED)
    monkeypatch.setattr(selection, "MARKER_SOURCES", ("specs",))   # as if conformance/ had changed
    assert selection.files_for(("AUTH-06",)) is None
    monkeypatch.undo()
    monkeypatch.setenv(prepare.CACHE_ENV, "off")
    assert selection.files_for(("AUTH-06",)) is None


def _item(nodeid: str, ids: list[str]):
    marks = [SimpleNamespace(args=tuple(ids))]
    return SimpleNamespace(nodeid=nodeid, iter_markers=lambda name=None: iter(marks if name == "requirement" else []))


def _plugin(only=()):
    return RunPlugin(Path("results.json"), SimpleNamespace(product=None), {}, 1, only)


def test_a_full_error_free_collection_is_remembered_and_a_partial_or_failed_one_is_not():
    config = SimpleNamespace(hook=SimpleNamespace(pytest_deselected=lambda items: None))
    items = [_item(n, ids) for n, ids in COLLECTED.items()]
    partial = _plugin(("FREE-01",))                           # files chosen: whole_package stays False
    partial.pytest_collection_modifyitems(config, list(items))
    assert selection.tests() is None
    failed = _plugin()
    failed.whole_package = True
    failed.pytest_collectreport(SimpleNamespace(failed=True))
    failed.pytest_collection_modifyitems(config, list(items))
    assert selection.tests() is None
    full = _plugin(("FREE-01",))
    full.whole_package = True
    kept = list(items)
    full.pytest_collection_modifyitems(config, kept)
    assert selection.tests() == COLLECTED                    # every test, before --only deselects
    assert [i.nodeid for i in kept] == [f"{SBOM}::test_c"]
