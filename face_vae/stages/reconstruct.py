"""The `reconstruct` stage: real photos through the VAE, written side by side with what comes back."""

import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig

from face_vae.core.errors import UserError
from face_vae.core.pictures import image_grid
from face_vae.data.photos import load_photos, photo_paths
from face_vae.outputs import write_images
from face_vae.stages.shared import inference_runtime, model_path, photo_crop, pulled_model, tracking_uri
from face_vae.tracking import provenance, runs

log = logging.getLogger(__name__)
GRID_FILE = "reconstructions.jpg"
GRID_PAIRS = 64  # the grid shows the first ones: a folder of thousands would make an unreadable picture


def run(cfg: DictConfig) -> None:
    """Encode each photo of `cfg.input` to its mean code, decode it, write `<name>_reconstruction.jpg`
    (original | reconstruction) and a grid of the first ones into `cfg.result_dir`; log to MLflow."""
    paths = photo_paths(cfg.input)
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_path(cfg)
    vae = runtime.place(pulled_model(cfg, model_file))
    # Running totals, not a tensor per batch: thousands of small tensors kept between the batches' large ones
    # fragmented the heap (+10 KB per photo, measured), so memory grew with the number of photos.
    totals = {"photos": 0, "squared_error": 0.0}
    files = write_images(
        Path(cfg.result_dir),
        reconstructed_pairs(vae, paths, cfg.batch_size, photo_crop(cfg, "reconstruct", model_file), totals),
        replaces=("*_reconstruction.jpg", GRID_FILE),
        total=len(paths) + 1,
    )
    mean_error = totals["squared_error"] / totals["photos"]
    log.info(
        "Wrote %d reconstructions to %s (squared error per photo: mean %.1f).",
        totals["photos"],
        cfg.result_dir,
        mean_error,
    )
    if uri is not None:
        params = provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
        params |= {"input": str(cfg.input), "photos": totals["photos"]}
        metrics = {"squared_error_mean": mean_error}
        runs.log_stage_run(
            uri, cfg.tracking.experiment, params | runtime.params(), metrics, files if len(files) <= 65 else files[-1:]
        )


def reconstructed_pairs(  # pylint: disable=too-many-arguments  # the photos, how to read them, the totals
    vae: torch.nn.Module, paths: list[Path], batch_size: int, crop: str | dict, totals: dict[str, float]
) -> Iterator[tuple[str, torch.Tensor]]:
    """(file name, photo | reconstruction) of each readable photo, `batch_size` photos at a time (cropped as `crop`),
    then the grid of the first GRID_PAIRS; the photos and their summed squared errors are added to `totals`."""
    names = dict(zip(paths, _unique_names(paths)))
    shown: list[torch.Tensor] = []
    for start in range(0, len(paths), batch_size):
        photos, kept = load_photos(paths[start : start + batch_size], crop, vae.image_size)
        if not kept:
            continue
        reconstructions = vae.decode(vae.encode(photos)).cpu()
        totals["photos"] += len(kept)
        totals["squared_error"] += float((photos - reconstructions).square().sum())
        pairs = torch.cat([photos, reconstructions], dim=3)  # side by side: width doubles
        shown += list(pairs[: GRID_PAIRS - len(shown)])
        yield from zip((names[path] for path in kept), pairs)
    if not shown:
        raise UserError(f"None of the {len(paths)} files given is a readable image: give JPG or PNG photos.")
    yield GRID_FILE, image_grid(torch.stack(shown), nrow=max(1, round((len(shown) / 2) ** 0.5)))


def _unique_names(paths: list[Path]) -> list[str]:
    """`<stem>_reconstruction.jpg` per photo; a photo whose name is taken (the same stem in another folder or with
    another extension) gets a number that no other photo's own name uses (`a.png` beside `a.jpg` and `a_2.jpg`)."""
    names, seen = [], set()
    own = {f"{path.stem}_reconstruction.jpg" for path in paths}
    for path in paths:
        name, number = f"{path.stem}_reconstruction.jpg", 2
        while name in seen:
            name, number = f"{path.stem}_{number}_reconstruction.jpg", number + 1
            while name in own:
                name, number = f"{path.stem}_{number}_reconstruction.jpg", number + 1
        seen.add(name)
        names.append(name)
    return names
