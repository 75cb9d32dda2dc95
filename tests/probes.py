"""Callbacks that tests add to a real run from the command line (`+callbacks.NAME._target_=tests.probes.X`)."""

from pathlib import Path

import lightning as L


class ValLossPerRank(L.Callback):
    """Writes each process's loss_val, as Lightning hands it to the checkpoint callbacks, to val_loss_rank<N>.txt."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if "loss_val" in trainer.callback_metrics and not trainer.sanity_checking:
            path = Path(f"val_loss_rank{trainer.global_rank}.txt")
            with open(path, "a", encoding="utf-8") as file:
                file.write(f"{float(trainer.callback_metrics['loss_val'])!r}\n")
