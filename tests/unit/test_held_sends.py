"""Held sends: each goes once, in order, when due; none is lost on a stop."""

from __future__ import annotations

from inspector.services.held_sends import HeldSends


def recorder(sent: list):
    return lambda name: (lambda: sent.append(name))


def test_a_held_send_goes_when_due_and_not_before():
    sent: list[str] = []
    send = recorder(sent)
    held = HeldSends(0.010)
    held.hold(send("a"), now=100.000)
    held.hold(send("b"), now=100.004)
    assert held.release_due(100.009) == 0 and sent == []
    assert held.release_due(100.010) == 1 and sent == ["a"]
    assert held.release_due(100.020) == 1 and sent == ["a", "b"]
    assert held.release_due(100.030) == 0 and len(held) == 0


def test_the_wait_is_shortened_to_the_next_due_send():
    held = HeldSends(0.010)
    assert held.wait_s(0.1, now=5.0) == 0.1
    held.hold(lambda: None, now=5.0)
    assert abs(held.wait_s(0.1, now=5.004) - 0.006) < 1e-9
    assert held.wait_s(0.1, now=5.050) == 0.0  # overdue: do not wait at all
    assert held.wait_s(0.002, now=5.0) == 0.002


def test_release_all_sends_everything_held_in_order():
    sent: list[str] = []
    send = recorder(sent)
    held = HeldSends(60.0)
    for name in "xyz":
        held.hold(send(name), now=0.0)
    assert held.release_all() == 3
    assert sent == ["x", "y", "z"] and len(held) == 0


def test_no_hold_sends_at_once():
    sent: list[str] = []
    held = HeldSends(0.0)
    held.hold(recorder(sent)("now"), now=0.0)
    assert sent == ["now"] and len(held) == 0
