"""The run's dataset is generated once per seed and generator, then copied from the cache
(`conformance.session.prepare.make_dataset`, issue 18: nothing done twice)."""
from __future__ import annotations

import fixtures.dataset
from conformance.session import prepare


def test_a_second_run_copies_the_same_dataset_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(prepare.CACHE_ENV, str(tmp_path / "cache"))
    first = prepare.make_dataset((tmp_path / "a").mkdir() or tmp_path / "a", 3)

    def no_generation(*args, **kwargs):
        raise AssertionError("generated again although cached")

    monkeypatch.setattr(fixtures.dataset, "generate", no_generation)
    second = prepare.make_dataset((tmp_path / "b").mkdir() or tmp_path / "b", 3)
    assert second["bundle"] == first["bundle"]
    assert second["directory"] == tmp_path / "b" / "dataset"
    assert sorted(p.name for p in second["directory"].iterdir()) == sorted(p.name for p in first["directory"].iterdir())
    assert second["journal_personas"].read_bytes() == first["journal_personas"].read_bytes()


def test_another_seed_or_a_changed_generator_is_not_taken_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(prepare.CACHE_ENV, str(tmp_path / "cache"))
    assert prepare._dataset_cache(3) != prepare._dataset_cache(4)
    before = prepare._dataset_cache(3)
    monkeypatch.setattr(prepare, "_GENERATOR_SOURCES", ("fixtures",))   # as if specs/ had changed
    assert prepare._dataset_cache(3) != before
    monkeypatch.setenv(prepare.CACHE_ENV, "off")
    assert prepare._dataset_cache(3) is None
