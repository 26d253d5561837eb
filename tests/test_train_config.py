"""TrainConfig: presets, TOML round trip, unknown keys, overrides, schedule lengths."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdikp_cli.errors import ConfigError
from fdikp_cli.training.config import (
    StageOptions,
    TrainConfig,
    load_model_overrides,
    preset,
    resolve,
    stage_steps,
    to_toml,
)


def test_presets_hold_the_papers_schedules() -> None:
    dpdd = preset("paper-dpdd")
    assert [(s.epochs, s.crop, s.batch_size, s.swa) for s in dpdd.stages] == [(1400, 384, 4, False), (100, 512, 2, True)]
    lfdof = preset("paper-lfdof")
    assert [(s.epochs, s.crop, s.batch_size, s.swa) for s in lfdof.stages] == [(270, 256, 4, False), (30, 512, 2, True)]
    assert dpdd.stages[0].lr == 1e-4 and dpdd.optim.betas == (0.9, 0.999)
    assert (dpdd.loss.mse, dpdd.loss.lpips, dpdd.loss.fft, dpdd.loss.scale_weights) == (1.0, 0.2, 0.2, (1.0, 0.2, 0.1))
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("paper-imagenet")


def test_dataset_kind_picks_the_default_preset() -> None:
    assert resolve(None, None, {"data": {"dataset": "lfdof"}}, []).preset == "paper-lfdof"
    assert resolve(None, None, {"data": {"dataset": "pairs:1,synthetic:1"}}, []).preset == "paper-dpdd"


def test_resolved_config_round_trips_through_toml(tmp_path: Path) -> None:
    config = resolve("paper-dpdd", None, {"data": {"dataset": "pairs", "data_root": "/d", "val_crop": 256},
                                          "model": {"widths": [8, 8, 8, 8]}},
                     ["loss.fft=0", "stages.1.swa_every=20", "run.seed=7", "synth.max_radius=12",
                      "synth.core_range=[0.2,0.3]"],
                     StageOptions(crop="128,256", batch_size="4,1", lr=2e-4))
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    again = resolve(None, path, {}, [])
    assert again == config
    assert [s.crop for s in again.stages] == [128, 256] and [s.batch_size for s in again.stages] == [4, 1]
    assert [s.lr for s in again.stages] == pytest.approx([2e-4, 1e-4])  # stage two keeps its 1/2 ratio
    assert again.loss.fft == 0.0 and again.stages[1].swa_every == 20 and again.model == {"widths": [8, 8, 8, 8]}
    assert again.synth == {"max_radius": 12, "core_range": [0.2, 0.3]}


def test_unknown_keys_are_rejected_everywhere(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\ndataset = 'pairs'\nbatchsize = 3\n")
    with pytest.raises(ConfigError, match="data.batchsize"):
        resolve(None, bad, {}, [])
    with pytest.raises(ConfigError, match="loss.fftt"):
        resolve(None, None, {}, ["loss.fftt=0"])
    with pytest.raises(ConfigError, match="unknown model configuration keys: depth"):
        resolve(None, None, {"model": {"depth": 3}}, [])
    with pytest.raises(ConfigError, match="unknown synthetic-defocus configuration keys: max_radiu"):
        resolve(None, None, {}, ["synth.max_radiu=3"])
    with pytest.raises(ConfigError, match="core_prob must be a probability"):
        resolve(None, None, {"synth": {"core_prob": 2.0}}, [])
    with pytest.raises(ConfigError, match="stages"):
        resolve(None, None, {}, ["stages.5.crop=64"])
    with pytest.raises(ConfigError, match="expected an integer"):
        TrainConfig.from_dict({"run": {"seed": "zero"}, "stages": [{}]})


def test_values_that_cannot_work_name_their_key() -> None:
    with pytest.raises(ConfigError, match=r"stages.0.crop must be a positive multiple"):
        resolve(None, None, {}, [], StageOptions(crop="100"))
    with pytest.raises(ConfigError, match="3 values for 2 stages"):
        resolve(None, None, {}, [], StageOptions(batch_size="4,2,1"))
    with pytest.raises(ConfigError, match="run.amp"):
        resolve(None, None, {"run": {"amp": "fp8"}}, [])
    with pytest.raises(ConfigError, match="milestones"):
        resolve(None, None, {}, ["stages.0.milestones=[50]"])
    with pytest.raises(ConfigError, match="charbonnier_eps"):
        resolve(None, None, {}, ["loss.charbonnier=1", "loss.charbonnier_eps=0"])
    with pytest.raises(ConfigError, match="loss weights must be >= 0"):
        resolve(None, None, {}, ["loss.charbonnier=-1"])
    # The smooth L1 alone is a loss: the MSE, LPIPS and FFT terms may all be off.
    assert resolve(None, None, {}, ["loss.mse=0", "loss.lpips=0", "loss.fft=0", "loss.charbonnier=1"]).loss.charbonnier == 1


def test_stage_lengths_from_epochs_and_squeezed_to_total_steps() -> None:
    config = preset("paper-dpdd")
    assert stage_steps(config, epoch_size=350) == [122500, 17500]  # 1400*350/4, 100*350/2
    assert stage_steps(config, epoch_size=350, world_size=2) == [61250, 8750]
    config.run.total_steps = 1000
    squeezed = stage_steps(config, epoch_size=350)
    assert sum(squeezed) == 1000 and squeezed == [875, 125]
    config.stages[1].steps = 40
    config.run.total_steps = None
    assert stage_steps(config, epoch_size=350)[1] == 40


def test_model_overrides_from_inline_json_or_files(tmp_path: Path) -> None:
    assert load_model_overrides('{"widths": [8, 8]}') == {"widths": [8, 8]}
    (tmp_path / "m.toml").write_text("[model]\nattention_heads = 2\n")
    assert load_model_overrides(str(tmp_path / "m.toml")) == {"attention_heads": 2}
    with pytest.raises(ConfigError, match="not found"):
        load_model_overrides(str(tmp_path / "none.json"))


def test_squeezing_keeps_at_least_one_step_per_stage_and_the_exact_total() -> None:
    config = preset("paper-dpdd")
    for total in (2, 3, 6, 7, 1001):
        config.run.total_steps = total
        steps = stage_steps(config, epoch_size=38)
        assert sum(steps) == total and min(steps) >= 1
