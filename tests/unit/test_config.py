"""Config composition, every setting declared once, and the one-line error for a bad override."""

import dataclasses
import importlib.util
import shutil

import pytest
from omegaconf import OmegaConf

from face_vae import cli, command_help
from face_vae.command_help import command_names, command_summary, config_help
from face_vae.core import config, settings
from face_vae.core.config import CONFIG_DIR, compose
from face_vae.core.errors import UserError
from face_vae.core.models.settings import VAEModel


def test_train_config_composes_groups_and_applies_overrides():
    cfg = compose("train", ["model.net.latent_dim=256", "trainer.max_epochs=3", "data.batch_size=8"])
    assert cfg.model.net.latent_dim == 256 and cfg.model["_target_"].endswith("VAEModule")
    assert cfg.trainer.max_epochs == 3
    assert cfg.data.batch_size == 8
    assert cfg.data.kind == "celeba" and cfg.tracking.experiment == "train_VAE"


def test_infer_config_has_its_own_experiment_and_defaults():
    cfg = compose("infer", ["n=4"])
    assert cfg.n == 4 and cfg.seed == 0 and cfg.tracking.experiment == "infer_VAE"


def test_the_prepared_folder_follows_the_image_size():
    assert compose("train", ["data.image_size=64"]).data.prepared_dir.endswith("64")


def test_a_mistyped_key_is_one_clear_error():
    with pytest.raises(UserError, match="Could not override 'trainer.max_epoch'"):
        compose("train", ["trainer.max_epoch=1"])


def test_cli_prints_one_line_and_exits_1_for_a_bad_key(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.run("train", ["trainer.max_epoch=1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trainer.max_epoch" in err and "Traceback" not in err


@pytest.mark.parametrize("command", sorted(settings.COMMANDS))
def test_every_command_and_group_option_is_typed_by_its_settings_class(command):
    """Hydra checks every key's type while it composes, from the one declaration of each key."""
    cfg = compose(command, [])
    assert OmegaConf.get_type(cfg) is settings.COMMANDS[command]
    groups = command_help._groups(settings.COMMANDS[command])  # pylint: disable=protected-access
    composed = {group for group, _ in groups}
    composed |= {group for group in settings.GROUPS if group.split("/")[0] in composed}  # model/net inside model
    assert command not in ("train", "fit_prior") or "model/prior" in composed
    for group in composed & set(settings.GROUPS):
        node = OmegaConf.select(cfg, group.replace("/", "."))
        assert OmegaConf.get_type(node) in settings.GROUPS[group].values(), f"{command}: {group} has no settings class"


def test_a_preset_key_that_no_settings_class_knows_is_refused_while_composing(tmp_path, monkeypatch):
    """A YAML preset cannot invent a key: settings and files cannot drift apart."""
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    with open(configs / "trainer" / "ddp.yaml", "a", encoding="utf-8") as file:
        file.write("speed: fast\n")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    with pytest.raises(UserError, match="speed"):
        compose("train", ["trainer=ddp"])


def _declared_keys(settings_class: type) -> list[str]:
    return [field.name for field in dataclasses.fields(settings_class)]


def test_a_preset_holds_only_values_that_differ_from_the_declared_defaults():
    """One place per setting: a YAML preset never repeats a default its settings class declares."""
    presets = [path for path in CONFIG_DIR.rglob("*.yaml") if path.parent.name in settings.GROUPS]
    assert presets, "trainer/ddp.yaml at least"
    for path in presets:
        values = OmegaConf.to_container(OmegaConf.load(path))
        if path.read_text().startswith("# @package _global_"):  # a preset over several groups (trainer=gpu)
            groups = {group: values[group] for group in values if group in settings.GROUPS}
        else:
            groups = {path.parent.name: values}
        for group, group_values in groups.items():
            defaults = next(iter(settings.GROUPS[group].values()))()
            for key, value in group_values.items():
                if key != "defaults":
                    assert value != getattr(defaults, key), f"{path} repeats the default of {group}.{key}"
    assert not any("${model." in path.read_text() for path in CONFIG_DIR.rglob("*.yaml")), "no model wiring"


def test_help_lists_every_key_with_its_default_and_comment():
    text = config_help("train")
    assert "  latent_dim: 128 # size of the latent code" in text
    assert "Group model (default vae; choose with model=vae" in text
    assert "Group callbacks (default default; choose with callbacks=default|ema" in text
    prior = text.split("Group model/prior (default gmm; choose with model/prior=")[1].split(";")[0]
    assert {"gmm", "normal"} <= set(prior.split("|")) and "override as model.prior.KEY" in text
    for key in _declared_keys(VAEModel) + _declared_keys(settings.Trainer) + _declared_keys(settings.Train):
        if key not in (*settings.group_fields(), "defaults"):
            assert f"  {key}:" in text, key


def test_each_registered_command_has_its_stage_and_summary_and_a_stray_yaml_adds_none(tmp_path, monkeypatch):
    """One registry (settings.COMMANDS) names the commands; a stray YAML file in configs/ adds none."""
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "stray.yaml").write_text("speed: fast\n")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    assert command_names() == sorted(settings.COMMANDS) and "stray" not in command_names()
    assert compose("infer", ["n=3"]).n == 3
    for name in command_names():
        assert importlib.util.find_spec(settings.RUNS[name]) is not None, name
        assert command_summary(name).endswith(".") and "configs/" not in command_summary(name), name


def test_the_model_is_built_from_its_injected_net_optimizer_and_prior():
    import torch

    from face_vae.core.models.priors import StandardNormal

    words = ["data=synthetic", "data.image_size=32", "model.net.channels=[8,16]", "model.net.latent_dim=4"]
    cfg = compose("train", [*words, "model.optimizer._target_=torch.optim.SGD", "model/prior=normal"])
    module = config.build(cfg.model)
    assert module.network.image_size == 32 and module.network.latent_dim == 4
    assert isinstance(module.configure_optimizers(), torch.optim.SGD)
    assert isinstance(module.prior, StandardNormal) and module.prior.latent_dim == 4


def test_a_prior_added_as_a_yaml_file_is_offered_and_built(tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "model" / "prior").mkdir(parents=True, exist_ok=True)
    (configs / "model" / "prior" / "one.yaml").write_text(
        "_target_: face_vae.core.models.priors.GaussianMixture\ncomponents: 1\nmax_codes: 100\n"
    )
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    assert "|one;" in config_help("train").split("choose with model/prior=")[1]
    cfg = compose("train", ["data.image_size=32", "model.net.channels=[8,16]", "model/prior=one"])
    assert config.build(cfg.model).prior.components == 1
    assert "model/prior=gmm|normal|one;" in config_help("fit_prior"), "fit_prior reads the same group"
    assert compose("fit_prior", ["model/prior=one"]).model.prior.components == 1


@pytest.mark.parametrize(
    "command, word, meant",
    [("train", "trainer.max_epoch=1", "trainer.max_epochs"), ("infer", "sed=3", "seed")],
)
def test_a_mistyped_key_is_answered_with_the_closest_key_of_that_command(command, word, meant):
    with pytest.raises(UserError, match=rf"Could not override .*\. Did you mean {meant}\? \(`{command} --help`"):
        compose(command, [word])


@pytest.mark.parametrize("command", ["fit_prior", "train"])
def test_a_mixture_fitted_to_fewer_than_two_codes_is_refused_in_one_sentence(command):
    with pytest.raises(UserError, match=r"model.prior.max_codes must be at least 2 .*not 1\."):
        compose(command, ["model.prior.max_codes=1"])
    import torch  # pylint: disable=import-outside-toplevel  # the rest of this file runs without torch

    from face_vae.core.models.priors import GaussianMixture  # pylint: disable=import-outside-toplevel

    with pytest.raises(UserError, match="fitted to 2 codes or more, and there is 1"):
        GaussianMixture(3, 10).fit(torch.zeros(1, 4))


@pytest.mark.parametrize(
    "word, said",
    [
        ("workers=0", "workers must be a number of processes from 1 to 64, not 0."),
        ("timeout_s=0", "timeout_s must be a number of seconds from 1 to 3600, not 0."),
    ],
)
def test_serves_workers_and_timeout_are_checked_when_the_config_is_read(word, said):
    with pytest.raises(UserError) as refused:
        compose("serve", [word])
    assert str(refused.value) == said
    assert compose("serve", ["workers=4", "timeout_s=120"]).workers == 4


@pytest.mark.parametrize(
    "command, word, said",
    [
        ("train", "model.prior=normal", "choose an option with model/prior=normal (model/prior=gmm|normal)"),
        ("fit_prior", "model.prior=normal", "choose an option with model/prior=normal"),
        ("train", "model.net=resnet", "choose an option with model/net=resnet (model/net=resnet)"),
        ("train", "data=folder2", None),
    ],
)
def test_a_dot_where_a_groups_slash_belongs_is_one_sentence(command, word, said):
    """`model.prior=normal` would put a word where the prior's settings belong; it failed later as 'str' object has
    no attribute 'needs_codes'."""
    with pytest.raises(UserError) as refused:
        compose(command, [word])
    if said:
        assert said in str(refused.value) and "would replace the whole" in str(refused.value)
