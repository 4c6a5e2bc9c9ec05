"""A training run's state as export and resume report it, and its progress lines (no training needed)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from inspector.errors import TrainingError
from inspector.training.backends.yolo import EpochReporter
from inspector.training.package import export_package
from inspector.training.run_lock import RunLock, training_now
from inspector.training.runs import RunRecord, write_run

HOLD_THE_LOCK = (
    "import sys, time; from inspector.training.run_lock import RunLock; "
    "lock = RunLock(sys.argv[1]).__enter__(); print('held', flush=True); time.sleep(600)"
)


@pytest.fixture
def unfinished_run(tmp_path):
    run_dir = tmp_path / "runs" / "first"
    run_dir.mkdir(parents=True)
    write_run(run_dir, RunRecord(family="yolo", state="training", config={}, dataset={}, device="cpu"))
    return run_dir


def test_export_of_a_run_still_training_says_it_is_still_running(unfinished_run, tmp_path):
    with RunLock(unfinished_run):
        assert training_now(unfinished_run).startswith("pid ")
        with pytest.raises(TrainingError, match="is still running .*pid .*export it when it has finished"):
            export_package(unfinished_run, tmp_path / "package")


def test_export_of_an_interrupted_run_says_it_was_interrupted_and_how_to_resume(unfinished_run, tmp_path):
    with RunLock(unfinished_run):
        pass
    assert training_now(unfinished_run) is None
    with pytest.raises(TrainingError, match="was interrupted before it finished .*inspector train --resume"):
        export_package(unfinished_run, tmp_path / "package")


def test_a_killed_trainer_leaves_no_lock_behind(unfinished_run):
    """Another process takes the lock and dies (as training killed by a power cut would): the run is free."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(unfinished_run)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert training_now(unfinished_run) == f"pid {holder.pid} since " + training_now(unfinished_run).split(" since ")[1]
        with pytest.raises(TrainingError, match="being trained right now"):
            RunLock(unfinished_run).__enter__()
    finally:
        holder.kill()
        holder.wait()
    assert training_now(unfinished_run) is None


def test_the_final_validation_is_not_reported_as_one_epoch_too_many(caplog):
    """The callbacks in ultralytics' order (trainer.py): per epoch on_train_epoch_end then on_fit_epoch_end;
    after the loop, final_eval raises the epoch by one and calls on_fit_epoch_end again."""
    lines: list[str] = []
    reporter = EpochReporter(lambda step: lines.append(step.line()))
    trainer = SimpleNamespace(epoch=0, epochs=38, fitness=0.5)
    for epoch in range(38):
        trainer.epoch = epoch
        reporter.trained(trainer)
        reporter.validated(trainer)
    trainer.epoch += 1  # final_eval
    with caplog.at_level("INFO", logger="inspector.training.backends.yolo"):
        reporter.validated(trainer)
    assert lines[0] == "epoch 1/38: validation fitness 0.5" and lines[-1] == "epoch 38/38: validation fitness 0.5"
    assert len(lines) == 38, "no 'epoch 39/38'"
    assert "final validation of the best epoch: validation fitness 0.5" in caplog.text
