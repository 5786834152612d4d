"""Separation of duties, guard by guard: who counts as the same person, one person in two
roles, and the trainer approving a release (found by benchmarks/mutation.py). The policies
and the log are built directly, so each test names the one promise it holds."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mle3 import audit
from mle3.ledger.duties import same_person, trainer_of, violations
from mle3.ledger.approvals import Approval

KEY = "TINY-MODEL-v0.1.0"


def approval(name: str, role: str, order: int = 0) -> Approval:
    return Approval(
        order=order,
        time="2026-01-01T00:00:00+00:00",
        item=KEY,
        role=role,
        name=name,
        decision="approved",
        fingerprint="f" * 64,
        comment=None,
        line=1,
    )


def workspace(*, one_role: bool = True, trainer_may: bool = False, released=("ml_lead", "safety_assessor"), items=None):
    policy = SimpleNamespace(
        one_role_per_person=one_role,
        trainer_may_approve_release=trainer_may,
        approvals={"validated": ["ml_lead"], "released": list(released)},
    )
    items = items or {}
    return SimpleNamespace(config=SimpleNamespace(policy=policy), resolve=lambda ref: items.get(ref))


@pytest.mark.parametrize(
    "a, b",
    [
        ("Lea <lea@example.com>", "Lea <lea@example.com>"),
        ("Lea <lea@example.com>", "L. Meyer <LEA@example.com >"),  # same email, any name
        ("Lea", "  lea "),  # bare names compare without case and spaces
        ("Lea <lea@example.com>", "lea <other@example.com>"),  # same name
        ("Lea <lea@example.com>", "Lea"),
    ],
)
def test_the_same_person(a, b):
    assert same_person(a, b) and same_person(b, a)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Lea <lea@example.com>", "Sam <sam@example.com>"),
        ("Lea", "Sam"),
        ("Lea <x@example.com>", "Sam <y@example.com>"),
        ("<>", "Sam <>"),  # two empty emails are not one person
        ("Lea <lea@example.com>", "Leah <lea@example.org>"),
    ],
)
def test_different_people(a, b):
    assert not same_person(a, b) and not same_person(b, a)


def test_one_person_in_two_roles_is_a_violation_naming_both_roles():
    fresh = [
        approval("Lea <lea@example.com>", "ml_lead"),
        approval("Sam <sam@example.com>", "safety_assessor", 1),
        approval("lea <lea@example.com>", "safety_assessor", 2),
    ]
    (v,) = violations(workspace(), None, KEY, fresh, None, releasing=False)
    assert v.kind == "two-roles" and v.person == "Lea <lea@example.com>"
    assert [a.order for a in v.approvals] == [0, 2]
    assert (
        "ml_lead and safety_assessor" in v.message
        and f"mle3 approve {KEY} --role safety_assessor --reject" in v.message
    )


def test_one_person_in_one_role_twice_and_two_people_in_two_roles_are_fine():
    fresh = [approval("Lea", "ml_lead"), approval("Lea", "ml_lead", 1), approval("Sam", "safety_assessor", 2)]
    assert violations(workspace(), None, KEY, fresh, None, releasing=True) == []


def test_three_people_each_group_found_separately():
    fresh = [
        approval("Lea", "ml_lead"),
        approval("Sam", "ml_lead", 1),
        approval("Sam", "safety_assessor", 2),
        approval("Kim", "safety_assessor", 3),
        approval("Kim", "qa", 4),
    ]
    found = violations(workspace(), None, KEY, fresh, None, releasing=False)
    assert sorted(v.person for v in found) == ["Kim", "Sam"] and all(v.kind == "two-roles" for v in found)


def test_two_roles_are_allowed_when_the_policy_is_off():
    fresh = [approval("Lea", "ml_lead"), approval("Lea", "safety_assessor", 1)]
    assert violations(workspace(one_role=False), None, KEY, fresh, None, releasing=False) == []


def test_the_trainer_may_not_approve_a_release():
    fresh = [approval("Tom <tom@example.com>", "safety_assessor"), approval("Lea", "ml_lead", 1)]
    (v,) = violations(workspace(), None, KEY, fresh, "tom <tom@example.com>", releasing=True)
    assert v.kind == "trainer" and v.person == "tom <tom@example.com>" and [a.order for a in v.approvals] == [0]
    assert "safety_assessor" in v.message


def test_the_trainer_rule_applies_only_when_releasing_with_a_known_trainer_and_the_policy_on():
    fresh = [approval("Tom", "safety_assessor")]
    assert violations(workspace(), None, KEY, fresh, "Tom", releasing=False) == []
    assert violations(workspace(), None, KEY, fresh, None, releasing=True) == []
    assert violations(workspace(), None, KEY, fresh, "", releasing=True) == []
    assert violations(workspace(trainer_may=True), None, KEY, fresh, "Tom", releasing=True) == []


def test_the_trainer_may_approve_in_a_role_the_release_does_not_need():
    fresh = [approval("Tom", "data_steward")]
    assert violations(workspace(), None, KEY, fresh, "Tom", releasing=True) == []
    assert (
        violations(workspace(released=()), None, KEY, [approval("Tom", "safety_assessor")], "Tom", releasing=True) == []
    )


def test_two_roles_and_trainer_are_both_reported():
    fresh = [approval("Tom", "ml_lead"), approval("Tom", "safety_assessor", 1)]
    found = violations(workspace(), None, KEY, fresh, "Tom", releasing=True)
    assert sorted(v.kind for v in found) == ["trainer", "two-roles"]
    (trainer,) = [v for v in found if v.kind == "trainer"]
    assert "ml_lead, safety_assessor" in trainer.message and len(trainer.approvals) == 2


def _log(*entries: tuple[str, str, str]) -> audit.Log:
    nodes = [
        audit.Node(
            "a.json", 1, f"{i:064x}", (), action, "2026-01-01T00:00:00+00:00", entry={"item": item, "actor": actor}
        )
        for i, (action, item, actor) in enumerate(entries)
    ]
    return audit.Log(nodes=nodes)


def test_the_trainer_is_whoever_started_the_models_run():
    run = SimpleNamespace(kind="run", id="RUN-1")
    ws = workspace(items={"RUN-1": run})
    model = SimpleNamespace(training_run="RUN-1")
    log = _log(
        ("run.start", "RUN-0", "Ann"),
        ("approval", "RUN-1", "Bob"),
        ("run.start", "RUN-1", "Tom"),
        ("run.start", "RUN-1", "Zed"),
    )
    assert trainer_of(ws, model, log) == "Tom"


def test_no_trainer_without_a_run_or_its_start():
    log = _log(("run.start", "RUN-1", "Tom"))
    assert (
        trainer_of(workspace(items={"RUN-1": SimpleNamespace(kind="run", id="RUN-1")}), SimpleNamespace(), log) is None
    )
    assert (
        trainer_of(
            workspace(items={"RUN-1": SimpleNamespace(kind="dataset", id="RUN-1")}),
            SimpleNamespace(training_run="RUN-1"),
            log,
        )
        is None
    )
    assert (
        trainer_of(
            workspace(items={"RUN-2": SimpleNamespace(kind="run", id="RUN-2")}),
            SimpleNamespace(training_run="RUN-2"),
            log,
        )
        is None
    )


def test_each_person_is_reported_once_however_many_decisions():
    fresh = [
        approval("Lea", "ml_lead"),
        approval("Lea", "safety_assessor", 1),
        approval("Lea", "qa", 2),
        approval("Lea", "ml_lead", 3),
    ]
    (v,) = violations(workspace(), None, KEY, fresh, None, releasing=False)
    assert len(v.approvals) == 4 and "ml_lead and qa and safety_assessor" in v.message


def test_a_person_is_grouped_by_the_first_decision_they_made():
    # same_person is not transitive: 'L. Meyer <lea@…>' is Lea by email, not 'Lea <other@…>'
    fresh = [
        approval("Lea <lea@example.com>", "ml_lead"),
        approval("Lea <other@example.com>", "ml_lead", 1),
        approval("L. Meyer <lea@example.com>", "safety_assessor", 2),
    ]
    (v,) = violations(workspace(), None, KEY, fresh, None, releasing=False)
    assert [a.order for a in v.approvals] == [0, 1, 2]


def test_only_runs_have_trainers_whatever_the_kind_string():
    log = _log(("run.start", "X-1", "Tom"))
    kind = "".join(["r", "un"])  # a kind read from YAML is not an interned literal
    assert (
        trainer_of(
            workspace(items={"X-1": SimpleNamespace(kind=kind, id="X-1")}), SimpleNamespace(training_run="X-1"), log
        )
        == "Tom"
    )
    for other in ("study", "trial", "model", "dataset", "requirement"):
        item = SimpleNamespace(kind=other, id="X-1")
        assert trainer_of(workspace(items={"X-1": item}), SimpleNamespace(training_run="X-1"), log) is None, other
