"""conformance/world.py: families computed once from the dataset and the people of a run."""
from types import SimpleNamespace

from conformance import world as w


def test_parents_of_a_learner_come_from_the_dataset_links_and_the_people(tmp_path, monkeypatch):
    rows = {"learners": ({"id": "L1", "organisation_id": "O1"}, {"id": "L2", "organisation_id": "O1"}),
            "learner_representatives": ({"learner_id": "L1", "representative_id": "R1"},
                                        {"learner_id": "L1", "representative_id": "R2"},
                                        {"learner_id": "L2", "representative_id": "R3"})}
    monkeypatch.setattr(w, "typed_rows", lambda directory, name: rows[name])
    people = SimpleNamespace(journal={"101": {"record_id": "R1", "prelinked": True}, "102": {"record_id": "R2"}},
                             esia={"103": {"oid": 103, "journal_id": "R3", "replaced_by": None}})
    world = w.world({"dataset": {"directory": str(tmp_path)}}, people)
    assert world.parent_oids("L1") == {"101", "102"}
    assert world.parent_oids("L1", prelinked_only=True) == {"101"}
    assert world.parent_oids("L2") == {"103"} and world.parent_oids("L9") == set()
    assert world.representatives["L1"] == ("R1", "R2"), "dataset order is kept"
    assert w.world({"dataset": {"directory": str(tmp_path)}}, people) is world, "built once per run"
