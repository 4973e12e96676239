"""Run configuration: layers, presets, type checks and clear errors for unknown names."""

import json

import pytest

from zsb.artifacts import RunFolder
from zsb.config import PRESETS, RunConfig, coerce, parse_assignments, resolve
from zsb.errors import ConfigError


def test_defaults_then_preset_then_overrides():
    assert resolve().image_size == RunConfig.image_size
    mini = resolve({"benchmark": "sketchy_mini"})
    assert mini.image_size == PRESETS["sketchy_mini"]["image_size"]
    assert resolve({"benchmark": "sketchy_mini", "image_size": 64}).image_size == 64
    assert resolve({"benchmark": "sketchy_ext"}).backbone == "resnet50"


def test_none_overrides_inherit_the_run_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"parameters": {**RunConfig().to_dict(), "epochs": 7}}))
    saved = RunFolder(tmp_path).recorded_parameters()
    assert resolve({"epochs": None}, saved).epochs == 7
    assert resolve({"epochs": 2}, saved).epochs == 2


def test_strings_from_the_command_line_are_parsed():
    assert coerce("epochs", "3") == 3
    assert coerce("lr_head", "1e-4") == pytest.approx(1e-4)
    assert coerce("cache_images", "false") is False
    assert coerce("margin", 1) == 1.0


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("epochs", "ten", "must be an int"),
        ("epochs", 2.5, "must be an int"),
        ("mining", "hardest", "not one of"),
        ("lr_head", -1.0, "must not be negative"),
    ],
)
def test_bad_values_are_named(name, value, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        coerce(name, value)
    assert name in str(info.value)


def test_unknown_names_suggest_the_close_one():
    with pytest.raises(ConfigError, match="Did you mean epochs"):
        resolve({"epoch": 3})


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        ({"benchmark": "sketchy"}, "sketchy"),
        ({"benchmark": "sketchy_mini", "split": "nope"}, "nope"),
        ({"backbone": "vgg16"}, "vgg16"),
        ({"kd_domains": "sketch,video"}, "video"),
        ({"ablation_variants": "full,bogus"}, "bogus"),
    ],
)
def test_unknown_choices_list_the_valid_ones(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        resolve(overrides)


def test_fingerprint_ignores_execution_only_fields():
    cfg = RunConfig()
    assert cfg.fingerprint() == cfg.replace(progress=False, num_workers=3).fingerprint()
    assert cfg.fingerprint() != cfg.replace(epochs=cfg.epochs + 1).fingerprint()


def test_assignments():
    assert parse_assignments(["epochs=3", "mining = semihard"]) == {"epochs": "3", "mining": "semihard"}
    with pytest.raises(ConfigError, match="name=value"):
        parse_assignments(["epochs"])


def test_precision_auto_resolves_to_bf16_exactly_where_the_cpu_has_bf16_units(tmp_path):
    """Read independently of torch: the CPU flags in /proc/cpuinfo (AVX512-BF16 or AMX-BF16)."""
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.is_file() else set()
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    cfg = resolve({"device": "cpu"})
    assert RunConfig().precision == "auto"
    assert cfg.precision == ("bf16" if native else "fp32")
    assert resolve({"device": "cpu", "precision": "fp32"}).precision == "fp32"
    assert resolve({"device": "cpu", "precision": "bf16"}).precision == "bf16"


def test_num_workers_minus_one_is_the_available_cpus_less_one_per_process(monkeypatch):
    import os

    from zsb.config import validated

    from zsb.device import resolve_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert resolve_workers(-1) == 15
    assert resolve_workers(-1, processes=4) == 3
    assert resolve_workers(3, processes=4) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert resolve_workers(-1) == 0
    with pytest.raises(ConfigError, match="num_workers=-2 must be -1 or more"):
        validated({"num_workers": -2})
    for name in ("sketchy_ext", "tuberlin_ext", "quickdraw_ext"):
        assert PRESETS[name]["num_workers"] == -1 and PRESETS[name]["compile"] is True


def test_a_neutral_default_leaves_fingerprints_and_run_ids_as_they_were():
    """freeze_stages=0 computes what zsb computed without the parameter: it is left out of what is hashed, so earlier
    run folders stay valid; any other value enters every fingerprint it affects."""
    from zsb.config import NEUTRAL, RUN_ID_PARAMETERS, parameters_of, short_hash
    from zsb.driver.reproduce import default_run_id

    cfg = RunConfig()
    assert NEUTRAL == {"freeze_stages": 0}
    assert "freeze_stages" in parameters_of("checkpoint") and "freeze_stages" not in cfg.settings("checkpoint")
    without = {name: getattr(cfg, name) for name in parameters_of("features") if name != "freeze_stages"}
    assert cfg.fingerprint("features") == short_hash(without)
    assert default_run_id(cfg) == "cfg-" + short_hash(
        {name: getattr(cfg, name) for name in RUN_ID_PARAMETERS if name != "freeze_stages"})
    frozen = cfg.replace(freeze_stages=2)
    assert frozen.settings("checkpoint")["freeze_stages"] == 2
    assert frozen.fingerprint("checkpoint") != cfg.fingerprint("checkpoint")
    assert frozen.fingerprint("knowledge") == cfg.fingerprint("knowledge")
    assert default_run_id(frozen) != default_run_id(cfg)
