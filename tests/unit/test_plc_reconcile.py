"""A result write without an answer is settled by the PLC's own tags, read back at the next session."""

from __future__ import annotations

from plc_io.reconcile import HeldResult, InDoubt

WRITE = InDoubt(part_id=2**31 + 5, part_tag=6, result_code=2, sequence=42, t_sent=100.0, error="failed to receive reply")


def test_the_plc_holding_the_writes_part_id_result_and_sequence_latched_it_late():
    settled = WRITE.settle(HeldResult(part_tag=6, result_code=2, sequence=42), t_read=105.3)
    assert settled.latched and round(settled.late_s, 1) == 5.3
    assert "latched it late" in settled.describe() and "sequence 42" in settled.describe()
    assert "failed to receive reply" in settled.describe()


def test_anything_else_the_plc_holds_means_it_never_latched_it():
    for held in (HeldResult(6, 2, 41), HeldResult(5, 2, 42), HeldResult(6, 1, 42), HeldResult(0, 0, 0)):
        settled = WRITE.settle(held, t_read=101.0)
        assert not settled.latched, held
        assert settled.describe().startswith("not delivered: no answer to the write (failed to receive reply)")
