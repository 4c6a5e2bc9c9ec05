"""PartTracker: every triggered part gets exactly one decision, in time or fail-safe."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from inspector.actuator.tracker import PartTracker
from tests.unit.factories import a_verdict, part_seen

BUDGET_S = 0.1
T0 = 1000.0


def tracker(failsafe_action: str = "reject") -> PartTracker:
    return PartTracker("station-1", BUDGET_S, failsafe_action)


def verdict_for(part_id: int, result: str = "PASS", camera: str = "top"):
    return a_verdict(part_id=part_id, camera=camera, result=result, t_trigger=T0)


def test_verdict_before_the_deadline_gives_one_decision_with_its_result():
    t = tracker()
    assert t.on_part_seen(part_seen(1, T0), now=T0) is None
    verdict = verdict_for(1, "REJECT")

    decision = t.on_verdict(verdict, now=T0 + 0.05)

    assert decision is not None
    assert (decision.part_id, decision.result, decision.source) == (1, "REJECT", "verdict")
    assert decision.verdict == verdict
    assert decision.t_trigger == T0 and decision.t_decided == T0 + 0.05
    assert t.pending == 0
    assert t.expire(T0 + 1.0) == []  # already decided: no second, fail-safe decision


def test_nothing_expires_before_the_deadline():
    t = tracker()
    t.on_part_seen(part_seen(1, T0), now=T0)
    assert t.expire(T0 + 0.05) == []
    assert t.pending == 1
    assert t.next_deadline() == pytest.approx(T0 + BUDGET_S)


@pytest.mark.parametrize(
    ("action", "result"), [("reject", "FAILSAFE_REJECT"), ("pass", "FAILSAFE_PASS"), ("line_stop", "FAILSAFE_REJECT")]
)
def test_part_without_verdict_gets_the_configured_failsafe_at_its_deadline(action, result):
    t = tracker(action)
    t.on_part_seen(part_seen(1, T0), now=T0)

    decisions = t.expire(T0 + BUDGET_S)

    assert [(d.part_id, d.result, d.source) for d in decisions] == [(1, result, "deadline")]
    assert decisions[0].verdict is None
    assert t.counters["failsafe_deadline"] == 1
    assert t.pending == 0


def test_verdict_after_the_decision_is_counted_late_and_ignored():
    t = tracker()
    t.on_part_seen(part_seen(1, T0), now=T0)
    t.expire(T0 + BUDGET_S)

    assert t.on_verdict(verdict_for(1, "PASS"), now=T0 + 0.2) is None
    assert t.counters["late_verdicts"] == 1
    assert t.counters["decisions"] == 1


def test_verdict_still_pending_but_past_its_deadline_gets_the_failsafe():
    # the deadline passed while the actuator was busy: expire() has not run yet
    t = tracker()
    t.on_part_seen(part_seen(1, T0), now=T0)
    decision = t.on_verdict(verdict_for(1, "PASS"), now=T0 + 0.15)
    assert (decision.result, decision.source) == ("FAILSAFE_REJECT", "deadline")
    assert t.counters["late_verdicts"] == 1


def test_verdict_arriving_at_the_deadline_instant_gets_the_failsafe_like_expire_does():
    # "a verdict if it arrives before t_trigger + budget, the fail-safe otherwise": at the
    # deadline itself expire() already fails the part, so a verdict then must not pass it
    deadline = T0 + BUDGET_S
    by_expiry = tracker()
    by_expiry.on_part_seen(part_seen(1, T0), now=T0)
    assert [d.result for d in by_expiry.expire(deadline)] == ["FAILSAFE_REJECT"]

    by_verdict = tracker()
    by_verdict.on_part_seen(part_seen(1, T0), now=T0)
    decision = by_verdict.on_verdict(verdict_for(1, "PASS"), now=deadline)
    assert decision.result == "FAILSAFE_REJECT"


def test_verdict_before_its_part_seen_waits_and_is_used_when_the_part_is_seen():
    t = tracker()
    assert t.on_verdict(verdict_for(7, "REJECT"), now=T0 + 0.03) is None
    assert t.pending == 0

    decision = t.on_part_seen(part_seen(7, T0), now=T0 + 0.04)

    assert (decision.part_id, decision.result, decision.source) == (7, "REJECT", "verdict")
    assert t.expire(T0 + 1.0) == []
    assert t.counters["orphan_verdicts"] == 0


def test_verdict_whose_part_is_never_seen_is_counted_orphan_after_expiry():
    t = tracker()
    t.on_verdict(verdict_for(9, "PASS"), now=T0)
    assert t.expire(T0) == []
    assert t.counters["orphan_verdicts"] == 0  # it may still be matched

    assert t.expire(T0 + 10 * BUDGET_S) == []
    assert t.counters["orphan_verdicts"] == 1
    assert t.counters["decisions"] == 0


def test_failsafe_verdict_from_the_detector_gives_a_detector_error_decision():
    t = tracker("pass")
    t.on_part_seen(part_seen(1, T0), now=T0)
    verdict = verdict_for(1, "FAILSAFE")
    decision = t.on_verdict(verdict, now=T0 + 0.01)
    assert (decision.result, decision.source) == ("FAILSAFE_PASS", "detector_error")
    assert decision.verdict == verdict
    assert t.counters["failsafe_detector_error"] == 1


def test_duplicate_part_seen_is_ignored_and_counted():
    t = tracker()
    t.on_part_seen(part_seen(1, T0), now=T0)
    assert t.on_part_seen(part_seen(1, T0), now=T0 + 0.01) is None
    assert t.counters["duplicate_part_seen"] == 1
    assert len(t.expire(T0 + 1.0)) == 1


def test_part_seen_again_after_its_decision_is_ignored_and_counted():
    t = tracker()
    t.on_part_seen(part_seen(1, T0), now=T0)
    t.on_verdict(verdict_for(1), now=T0 + 0.01)
    assert t.on_part_seen(part_seen(1, T0), now=T0 + 0.02) is None
    assert t.counters["duplicate_part_seen"] == 1
    assert t.pending == 0


def test_same_part_id_on_two_cameras_is_two_parts():
    t = tracker()
    t.on_part_seen(part_seen(1, T0, camera="top"), now=T0)
    t.on_part_seen(part_seen(1, T0, camera="side"), now=T0)
    decision = t.on_verdict(verdict_for(1, "REJECT", camera="side"), now=T0 + 0.01)
    assert decision.camera == "side"
    assert [(d.camera, d.source) for d in t.expire(T0 + 1.0)] == [("top", "deadline")]


def test_part_seen_already_past_its_deadline_is_failed_at_once():
    t = tracker()
    decision = t.on_part_seen(part_seen(1, T0), now=T0 + 0.5)
    assert (decision.result, decision.source) == ("FAILSAFE_REJECT", "deadline")
    assert t.pending == 0


def test_fail_all_gives_every_pending_part_a_failsafe():
    t = tracker()
    for i in range(1, 6):
        t.on_part_seen(part_seen(i, T0 + i * 0.01), now=T0 + i * 0.01)
    t.on_verdict(verdict_for(3), now=T0 + 0.04)

    decisions = t.fail_all(now=T0 + 0.06)

    assert sorted(d.part_id for d in decisions) == [1, 2, 4, 5]
    assert {d.result for d in decisions} == {"FAILSAFE_REJECT"}
    assert t.pending == 0
    assert t.expire(T0 + 1.0) == []


def test_every_part_of_a_random_interleaving_gets_exactly_one_decision():
    rng = random.Random(20240607)
    n_parts = 500
    events = []  # (time, order, kind, payload)
    seen_time = {}
    for part in range(1, n_parts + 1):
        t_trigger = T0 + part * 0.01
        seen_at = t_trigger + rng.choice([0.0, 0.0, rng.uniform(0, 0.15)])  # sometimes late itself
        seen_time[part] = seen_at
        events.append((seen_at, len(events), "seen", part_seen(part, t_trigger)))
        if rng.random() < 0.05:
            events.append((seen_at + rng.uniform(0, 0.05), len(events), "seen", part_seen(part, t_trigger)))
        if rng.random() < 0.9:  # some verdicts are lost
            result = rng.choice(["PASS", "REJECT", "REJECT", "FAILSAFE"])
            v = a_verdict(part_id=part, result=result, t_trigger=t_trigger)
            events.append((t_trigger + rng.uniform(0, 0.2), len(events), "verdict", v))
    events.sort()

    t = tracker()
    decisions = []
    for now, _, kind, payload in events:
        decisions += t.expire(now)
        handler = t.on_part_seen if kind == "seen" else t.on_verdict
        decision = handler(payload, now)
        if decision is not None:
            decisions.append(decision)
    decisions += t.expire(events[-1][0] + 1.0)
    decisions += t.fail_all(events[-1][0] + 1.0)

    per_part = Counter(d.part_id for d in decisions)
    assert set(per_part) == set(range(1, n_parts + 1))
    assert set(per_part.values()) == {1}
    assert t.counters["decisions"] == n_parts
    # the interleaving did exercise the awkward cases
    assert t.counters["late_verdicts"] > 0 and t.counters["duplicate_part_seen"] > 0
    assert t.counters["failsafe_detector_error"] > 0
    early = {p.part_id for time_, _, kind, p in events if kind == "verdict" and time_ < seen_time[p.part_id]}
    assert any(d.part_id in early and d.source == "verdict" for d in decisions)
    for d in decisions:
        if d.source == "verdict":
            assert d.t_decided < d.t_trigger + BUDGET_S
            assert d.result == d.verdict.result
        else:
            assert d.result == "FAILSAFE_REJECT"


def test_another_part_under_a_decided_id_is_decided_as_any_part_not_ignored():
    t = tracker()
    t.on_part_seen(part_seen(1, T0), now=T0)
    t.on_verdict(verdict_for(1), now=T0 + 0.01)
    later = part_seen(1, T0 + 60)  # the same id, a minute later: the camera's part counter was set back
    assert t.reused(later)
    assert t.on_part_seen(later, now=T0 + 60) is None, "pending, as any part"
    (decision,) = t.expire(T0 + 61)
    assert (decision.part_id, decision.result, decision.t_trigger) == (1, "FAILSAFE_REJECT", T0 + 60)
    assert t.counters["part_id_reused"] == 1 and t.counters["duplicate_part_seen"] == 0
    assert not t.reused(part_seen(1, T0 + 60)), "a repeat of the reused part's own event is a replay again"
