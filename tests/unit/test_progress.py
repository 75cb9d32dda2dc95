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


def test_the_rich_bar_counts_epochs_from_one_as_the_epoch_lines_do(tmp_path):
    """RichEpochBar overrides Lightning's `_get_train_description`: a Lightning that renames it fails here, not
    silently in users' terminals."""
    pytest.importorskip("rich")
    import lightning as L  # pylint: disable=import-outside-toplevel
    import torch  # pylint: disable=import-outside-toplevel
    from lightning.pytorch.demos.boring_classes import BoringModel  # pylint: disable=import-outside-toplevel

    from face_vae.callbacks.progress import RichEpochBar  # pylint: disable=import-outside-toplevel

    console = io.StringIO()
    rich_bar = RichEpochBar(console_kwargs={"file": console, "force_terminal": True, "width": 200})
    trainer = L.Trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=0, callbacks=[rich_bar], logger=False,
                        enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    torch.manual_seed(0)
    trainer.fit(BoringModel())
    shown = console.getvalue()
    assert "Epoch 1/2" in shown and "Epoch 2/2" in shown, shown[-500:]
    assert "Epoch 0" not in shown
