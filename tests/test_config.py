"""Config composition through the compose API, and the one-line error for a bad override."""

import shutil

import pytest
from lightning.pytorch.callbacks import EMAWeightAveraging
from omegaconf import OmegaConf

from face_vae import cli, config, schema
from face_vae.config import CONFIG_DIR, build, compose
from face_vae.errors import UserError


def test_train_config_composes_groups_and_applies_overrides():
    cfg = compose("train", ["model.latent_dim=256", "trainer.max_epochs=3", "data.batch_size=8"])
    assert cfg.model.latent_dim == 256
    assert cfg.model.module.vae.latent_dim == 256, "the module is built from the overridden knob"
    assert cfg.trainer.max_epochs == 3
    assert cfg.data.batch_size == 8
    assert cfg.data.kind == "celeba" and cfg.tracking.experiment == "train_VAE"


def test_infer_config_has_its_own_experiment_and_defaults():
    cfg = compose("infer", ["n=4"])
    assert cfg.n == 4 and cfg.seed == 0 and cfg.tracking.experiment == "infer_VAE"


def test_model_image_size_follows_the_data():
    cfg = compose("train", ["data.image_size=64"])
    assert cfg.model.module.vae.image_size == 64
    assert cfg.data.prepared_dir.endswith("64")


def test_a_mistyped_key_is_one_clear_error():
    with pytest.raises(UserError, match="Could not override 'trainer.max_epoch'"):
        compose("train", ["trainer.max_epoch=1"])


def test_cli_prints_one_line_and_exits_1_for_a_bad_key(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.run("train", ["trainer.max_epoch=1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trainer.max_epoch" in err and "Traceback" not in err


@pytest.mark.parametrize("command", sorted(schema.COMMANDS))
def test_every_command_and_group_option_is_typed_by_its_schema(command):
    """Each file names its schema first, so Hydra checks every key's type while it composes (no second compose)."""
    cfg = compose(command, [])
    assert OmegaConf.get_type(cfg) is schema.COMMANDS[command]
    for group, options in schema.GROUPS.items():
        if group in cfg:
            assert OmegaConf.get_type(cfg[group]) in options.values(), f"{command}: {group} has no schema"


def test_a_group_key_the_schema_does_not_know_is_refused_while_composing(tmp_path, monkeypatch):
    """A YAML key with no field in its schema fails the compose: schema and files cannot drift apart."""
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    with open(configs / "runtime" / "default.yaml", "a", encoding="utf-8") as file:
        file.write("speed: fast\n")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    with pytest.raises(UserError, match="speed"):
        compose("infer", [])


def test_the_ema_callback_is_built_from_the_config_only_when_the_decay_is_positive():
    assert build(compose("train", []).callbacks.ema) is None
    assert isinstance(build(compose("train", ["model.ema_decay=0.99"]).callbacks.ema), EMAWeightAveraging)
