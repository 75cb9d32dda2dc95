"""Learning-rate decay over the training budget as a callback that one config word switches on."""

import math

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Timer


def budget_spent(trainer: Trainer, batch_idx: int) -> float:
    """The share of the training budget spent, 0 to 1: the larger of wall-clock time over `max_time`
    and epochs over `max_epochs`, since training stops at whichever comes first."""
    shares = [0.0]
    if trainer.max_epochs and trainer.max_epochs > 0 and trainer.num_training_batches not in (0, math.inf):
        shares.append((trainer.current_epoch + batch_idx / trainer.num_training_batches) / trainer.max_epochs)
    timer = next((callback for callback in trainer.callbacks if isinstance(callback, Timer)), None)
    remaining = timer.time_remaining() if timer is not None else None
    if remaining is not None:
        elapsed = timer.time_elapsed()
        shares.append(elapsed / max(elapsed + remaining, 1e-9))
    return min(1.0, max(shares))


class BudgetCosineDecay(Callback):
    """Before each training batch, sets every optimiser's learning rate to its initial value times a cosine
    that falls from 1 to 0 over the budget spent (`budget_spent`).

    A wall-clock budget has no step count for a step scheduler to count down, so the decay follows
    whichever of time and epochs ends training: it reaches its end where training does, on any machine.
    The initial rate is kept in each parameter group, so a resumed run goes on from where it was.
    """

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: object, batch_idx: int) -> None:
        # Each DDP process reads its own clock: rank 0's share keeps every replica's step the same.
        spent = trainer.strategy.broadcast(budget_spent(trainer, batch_idx))
        factor = 0.5 * (1 + math.cos(math.pi * spent))
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor


def lr_decay(schedule: str) -> BudgetCosineDecay | None:
    """The callback of `model.lr_schedule`: cosine decays over the budget; constant adds no callback."""
    return BudgetCosineDecay() if schedule == "cosine" else None
