"""Run configuration: one typed block of parameters shared by every stage, with a preset per benchmark.

A run's configuration is resolved in layers, later layers winning:

1. the field defaults of :class:`RunConfig` (the synthetic benchmark's CPU preset);
2. the benchmark's preset (:data:`PRESETS`), e.g. ResNet50 at 224 px for the full benchmarks;
3. the run folder's ``config.json`` (written by the first stage, so later stages use the same values);
4. explicit overrides: a YAML file, ``--set key=value``, or a notebook parameter that is not ``None``.

The notebooks' ``parameters`` cells hold ``None`` for "take it from the layers above", so a notebook run alone
by papermill with ``-p benchmark sketchy_mini`` gets the sketchy_mini preset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from zsb.errors import ConfigError


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of a zsb run. Defaults are the synthetic benchmark's CPU preset."""

    # --- data (01_data) ---
    benchmark: str = "synthetic"  # synthetic | sketchy_mini | sketchy_ext | tuberlin_ext | quickdraw_ext
    data_root: str = ""  # dataset folder; "" = none needed (synthetic is generated into a cache folder)
    split: str = ""  # zero-shot class split; "" = the benchmark's default split
    max_seen_classes: int = 0  # keep only the first N seen classes (0 = all): tiny smoke configurations
    max_unseen_classes: int = 0  # keep only the first N unseen classes (0 = all)
    max_per_class: int = 0  # keep at most N images per class and domain (0 = all)
    # --- backbone and model (02_knowledge, 03_train) ---
    backbone: str = "efficientnet_lite0"  # efficientnet_lite0 (weights ship with pip) | resnet50 (the paper's)
    weights: str = "imagenet"  # "imagenet", a path to a state dict, or "none" (random init, tests only)
    image_size: int = 128  # square input size in pixels, training and evaluation
    embed_dim: int = 512  # size of the retrieval embedding
    # --- semantic knowledge (02_knowledge) ---
    teacher: str = "precomputed"  # precomputed: class-oriented knowledge (the paper) | online: SAKE-style teacher per batch
    kd_temperature: float = 2.0  # temperature T of teacher and student ImageNet softmax
    kd_top_k: int = 0  # keep the top-k ImageNet classes of each class's knowledge and renormalise (0 = all 1000)
    kd_domains: str = "sketch,photo"  # domains the knowledge preservation loss applies to
    freeze_imagenet_head: bool = False  # fix the pretrained ImageNet classifier: features must keep the knowledge
    # --- training (03_train) ---
    metric_loss: str = "quadruplet"  # quadruplet: domain-balanced quadruplet (the paper) | triplet: sketch->photo triplet
    w_metric: float = 1.0  # weight of the quadruplet (or triplet) loss
    w_classification: float = 1.0  # weight of the semantic classification loss
    w_knowledge: float = 1.0  # weight of the semantic knowledge preservation loss
    margin: float = 0.2  # hinge margin of the quadruplet / triplet loss (Euclidean distance of unit vectors)
    mining: str = "hard"  # negative mining in the batch: hard | semihard | random
    epochs: int = 2  # passes over the training set
    classes_per_batch: int = 16  # P: classes in a domain-balanced batch
    samples_per_domain: int = 1  # K: sketches and photos per class in a batch (batch = 2 * P * K)
    batches_per_epoch: int = 0  # 0 = enough batches to see every training image about once
    lr_backbone: float = 3e-4  # Adam learning rate of the pretrained backbone
    lr_head: float = 1e-3  # Adam learning rate of the new embedding and classifier heads
    weight_decay: float = 0.0  # Adam weight decay
    lr_schedule: str = "cosine"  # cosine (decay to 0 over the run) | constant
    crop_scale: float = 0.7  # smallest area fraction of the random resized crop (1.0 = no crop augmentation)
    precision: str = "fp32"  # training arithmetic: fp32 | bf16 (autocast; fast only where the CPU or GPU has bf16 units)
    # --- evaluation (04_evaluate) ---
    eval_hflip: bool = True  # test-time flip: average the embeddings of each image and its mirror image
    # --- ablation (06_ablation) ---
    ablation_epochs: int = 1  # epochs of each ablation variant (0 = same as epochs)
    ablation_variants: str = "full,no_knowledge,no_classification,no_quadruplet,triplet,frozen,online_teacher"
    # --- execution ---
    seed: int = 0  # one seed makes CPU runs identical
    device: str = "auto"  # auto | cpu | cuda
    num_workers: int = 0  # DataLoader worker processes
    cache_images: bool = True  # keep decoded, resized images in memory (small benchmarks)
    eval_batch_size: int = 128  # batch size of feature extraction
    progress: bool = True  # tqdm progress bars

    # Fields that change results; the others (progress, workers, batch size of inference) do not.
    EXECUTION_ONLY = ("progress", "num_workers", "eval_batch_size", "device", "cache_images")

    def replace(self, **changes: Any) -> "RunConfig":
        return validated(dataclasses.asdict(self) | changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self, names: tuple[str, ...] | None = None) -> str:
        """A short hash of the result-relevant parameters (all of them, or just ``names``)."""
        d = self.to_dict()
        keys = names if names is not None else [k for k in d if k not in self.EXECUTION_ONLY]
        blob = json.dumps({k: d[k] for k in sorted(keys)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    @property
    def kd_domain_list(self) -> tuple[str, ...]:
        return tuple(d.strip() for d in self.kd_domains.split(",") if d.strip())

    @property
    def variant_list(self) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.ablation_variants.split(",") if v.strip())


FIELD_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(RunConfig)}
CHOICES: dict[str, tuple[str, ...]] = {
    "teacher": ("precomputed", "online"),
    "metric_loss": ("quadruplet", "triplet"),
    "mining": ("hard", "semihard", "random"),
    "lr_schedule": ("cosine", "constant"),
    "precision": ("fp32", "bf16"),
    "device": ("auto", "cpu", "cuda"),
}
ABLATION_VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "no_knowledge": {"w_knowledge": 0.0},
    "no_classification": {"w_classification": 0.0},
    "no_quadruplet": {"w_metric": 0.0},
    "triplet": {"metric_loss": "triplet"},
    "frozen": {"epochs": 0},
    "online_teacher": {"teacher": "online"},
}
"""Each ablation variant is the full method with these parameters changed ("frozen" is not trained at all)."""

PRESETS: dict[str, dict[str, Any]] = {
    "synthetic": {},
    "sketchy_mini": {  # lr_backbone stays at the default 3e-4: see results/sketchy_mini/knowledge_search/
        "image_size": 224,
        "epochs": 6,
        "precision": "bf16",
        "ablation_epochs": 3,
    },
    **{
        name: {
            "backbone": "resnet50",
            "image_size": 224,
            "epochs": 20,
            "classes_per_batch": 16,
            "samples_per_domain": 2,
            "lr_backbone": 1e-4,
            "ablation_epochs": 0,
            "device": "auto",
            "num_workers": 8,
            "cache_images": False,
            "eval_batch_size": 256,
        }
        for name in ("sketchy_ext", "tuberlin_ext", "quickdraw_ext")
    },
}
"""Per-benchmark values that differ from the defaults: CPU presets for the small sets, the paper's for the full ones."""


def coerce(name: str, value: Any) -> Any:
    """Check one parameter's name and type; strings from the command line are parsed (``"4"`` -> 4)."""
    if name not in FIELD_TYPES:
        raise ConfigError(unknown_name_message(name, FIELD_TYPES))
    kind = FIELD_TYPES[name]
    if isinstance(value, str) and kind is not str:
        value = parse_string(name, value, kind)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and value is None:
        value = ""
    if type(value) is not kind:
        raise ConfigError(type_error_message(name, value, kind, RunConfig.__dataclass_fields__[name].default))
    if name in CHOICES and value not in CHOICES[name]:
        raise ConfigError(f"parameter {name}={value!r} is not one of {', '.join(CHOICES[name])}")
    if kind in (int, float) and value < 0:
        raise ConfigError(f"parameter {name}={value!r} must not be negative")
    return value


def type_error_message(name: str, value: Any, kind: type, example: Any) -> str:
    article = "an" if kind.__name__[0] in "aeiou" else "a"
    return f"parameter {name!r} must be {article} {kind.__name__}, got {value!r}. Example: {name}={example!r}"


def parse_string(name: str, text: str, kind: type, example: Any = None) -> Any:
    """Parse a command-line string as ``kind`` (``"4"`` -> 4, ``"false"`` -> False) or raise a ConfigError."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    if example is None and name in RunConfig.__dataclass_fields__:
        example = RunConfig.__dataclass_fields__[name].default
    raise ConfigError(type_error_message(name, text, kind, example))


def unknown_name_message(name: str, known: Mapping[str, Any] | list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return f"unknown parameter {name!r}.{hint} Known parameters: {', '.join(sorted(known))}"


def validated(values: Mapping[str, Any]) -> RunConfig:
    """Build a RunConfig from a mapping, checking every name, type and choice."""
    checked = {name: coerce(name, value) for name, value in values.items()}
    cfg = RunConfig(**checked)
    from zsb.data.registry import get_benchmark  # checks benchmark and split names

    benchmark = get_benchmark(cfg.benchmark)
    if cfg.split and cfg.split not in benchmark.splits:
        raise ConfigError(
            f"unknown split {cfg.split!r} for benchmark {cfg.benchmark!r}; choose one of {', '.join(benchmark.splits)}"
        )
    from zsb.backbones import BACKBONES

    if cfg.backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {cfg.backbone!r}; choose one of {', '.join(BACKBONES)}")
    for domain in cfg.kd_domain_list:
        if domain not in ("sketch", "photo"):
            raise ConfigError(f"kd_domains lists {domain!r}; use a comma-separated subset of sketch,photo")
    for variant in cfg.variant_list:
        if variant not in ABLATION_VARIANTS:
            raise ConfigError(
                f"unknown ablation variant {variant!r}; choose from {', '.join(ABLATION_VARIANTS)}"
            )
    if cfg.image_size < 32:
        raise ConfigError(f"image_size={cfg.image_size} is too small; use 32 px or more")
    if cfg.classes_per_batch < 2 or cfg.samples_per_domain < 1:
        raise ConfigError("a batch needs classes_per_batch >= 2 and samples_per_domain >= 1 (negatives and positives)")
    return cfg


def resolve(overrides: Mapping[str, Any] | None = None, run_dir: str | Path | None = None) -> RunConfig:
    """Defaults <- benchmark preset <- run folder's config.json <- overrides (``None`` values are ignored)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for name in overrides:
        if name not in FIELD_TYPES:
            raise ConfigError(unknown_name_message(name, FIELD_TYPES))
    saved: dict[str, Any] = {}
    if run_dir is not None and (Path(run_dir) / "config.json").is_file():
        saved = read_config_file(Path(run_dir) / "config.json")
    benchmark = overrides.get("benchmark", saved.get("benchmark", RunConfig.benchmark))
    if saved and saved.get("benchmark") != benchmark:
        saved = {}  # another benchmark's run folder: its values do not apply
    preset = PRESETS.get(str(benchmark), {})
    return validated({**preset, **saved, **overrides})


def read_config_file(path: Path) -> dict[str, Any]:
    """The parameters stored in a run's config.json (provenance keys are left out)."""
    try:
        data = json.loads(Path(path).read_text())
        return dict(data["parameters"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a zsb config.json ({e}); delete it or choose another run folder") from e


def load_yaml_overrides(path: str | Path) -> dict[str, Any]:
    """Parameters from a YAML file of ``name: value`` lines."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of parameter: value, got {type(data).__name__}")
    return data


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["epochs=3", "mining=semihard"]`` -> ``{"epochs": "3", "mining": "semihard"}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set expects name=value, got {item!r}")
        out[name.strip()] = value.strip()
    return out
