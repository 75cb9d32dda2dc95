"""Weight averaging (EMA) as a training callback that one config number switches on."""

from lightning.pytorch.callbacks import EMAWeightAveraging


def weight_averaging(decay: float) -> EMAWeightAveraging | None:
    """Lightning's exponential moving average of the weights with `decay` (validation, the saved model
    and sampling use the averaged weights: Lightning swaps them in), or None when decay is 0: no callback."""
    return EMAWeightAveraging(decay=decay) if decay > 0 else None
