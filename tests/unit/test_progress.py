"""Progress of long steps: a bar in a terminal, a plain line per tenth in a log file."""

import io
import logging
import sys
from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import Timer

from face_vae.callbacks.progress import EpochLine
from face_vae.core.progress import progress


def test_in_a_log_file_progress_is_one_plain_line_per_tenth(monkeypatch):
    stderr = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", stderr)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("face_vae.core.progress")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        assert list(progress(iter(range(25)), 25, "encode train")) == list(range(25))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [line.split(" (")[0] for line in lines] == [
        f"encode train: {done}/25" for done in (3, 6, 9, 12, 15, 18, 21, 24, 25)
    ]
    assert "\r" not in stderr.getvalue(), "no carriage-return bar in a log"


@pytest.mark.parametrize(
    "epochs, timed, shown",
    [
        (3, False, [1, 2, 3]),
        (30, False, [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]),
        (25, False, [3, 6, 9, 12, 15, 18, 21, 24, 25]),
        (10000, True, list(range(1, 31))),
    ],
)
def test_the_epoch_line_comes_every_epoch_or_every_tenth_of_many(epochs, timed, shown):
    callbacks = [Timer(duration="00:00:01:00")] if timed else []
    trainer = SimpleNamespace(max_epochs=epochs, callbacks=callbacks, current_epoch=0)
    seen = []
    for epoch in range(min(epochs, 30)):
        trainer.current_epoch = epoch
        if EpochLine._shown(trainer):  # pylint: disable=protected-access
            seen.append(epoch + 1)
    assert seen == [epoch for epoch in shown if epoch <= 30]
