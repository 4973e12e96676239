"""Run configuration: every parameter of a zsb run, declared once, with the artifacts it affects.

Each :class:`RunConfig` field carries its default, a one-line description and the **artifacts** whose contents
depend on it (:data:`ARTIFACTS`). Everything that has to know "which parameters matter here" is derived from those
declarations, in this module: the fingerprint that every artifact of a run folder records, the stage markers of
the driver, the checkpoint identity, the run id, the parameters a stage notebook declares, the parameters
``zsb compare`` tabulates. Adding a parameter is one field here, and the code that reads it.

A run's configuration is resolved once, in layers, later layers winning (:func:`resolve`):

1. the field defaults (the synthetic benchmark's CPU preset);
2. the benchmark's preset (:data:`PRESETS`), e.g. ResNet50 at 224 px for the full benchmarks;
3. the run folder's ``config.json`` (so a rerun of a folder keeps its values);
4. explicit overrides: a YAML file, ``--set key=value``, or a notebook parameter that is not ``None``.

The result is written to the run folder's ``config.json``; every stage and every reader of the folder reads that
file (:func:`zsb.artifacts.RunFolder.config`) rather than resolving again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from zsb.errors import ConfigError

EXECUTION = "execution"
"""Declared by parameters that change how a run executes (speed, memory, output) but never what it computes."""

@dataclass(frozen=True)
class Artifact:
    """What an artifact of a run folder is made from (other artifacts) and the stage notebooks that make or draw it;
    where its files live is :class:`zsb.artifacts.RunFolder`'s."""

    made_from: tuple[str, ...]
    stages: tuple[str, ...]


ARTIFACTS: dict[str, Artifact] = {
    "manifest": Artifact((), ("01_data",)),  # the images of the split by class and domain
    "knowledge": Artifact(("manifest",), ("02_knowledge",)),  # the teacher's class-oriented ImageNet knowledge
    "checkpoint": Artifact(("knowledge",), ("03_train",)),  # the fine-tuned model and its training log
    "seed_checkpoints": Artifact(("checkpoint",), ("03_train",)),  # the same training, further seeds
    "features": Artifact(("checkpoint",), ("04_evaluate", "05_tsne")),  # the trained model's embeddings and metrics
    "frozen_features": Artifact(("manifest",), ("04_evaluate", "05_tsne")),  # the pretrained features' and metrics
    "seed_metrics": Artifact(("features", "seed_checkpoints"), ("04_evaluate",)),  # the metrics over seeds
    "binary": Artifact(("features",), ("04_evaluate",)),  # ITQ codes and their metrics
    "variants": Artifact(("features", "frozen_features", "seed_checkpoints"), ("06_ablation",)),  # each variant, seed
    "ablation_table": Artifact(("variants",), ("06_ablation",)),  # which variants are tabulated
}
"""Every artifact of a run folder, the artifacts it is made from and its stages: a parameter that affects an
artifact affects everything made from it."""


def param(default: Any, affects: str | tuple[str, ...], doc: str, minimum: float = 0, neutral: bool = False) -> Any:
    """A RunConfig field: its default, the artifacts it affects (or :data:`EXECUTION`), a one-line description and,
    for a number, its smallest allowed value. A ``neutral`` default computes what zsb computed before the parameter
    existed: at that value the parameter is left out of the settings that fingerprints and run ids hash, so run
    folders and checkpoints made without it stay valid."""
    affects = (affects,) if isinstance(affects, str) else tuple(affects)
    for name in affects:
        if name != EXECUTION and name not in ARTIFACTS:
            raise ValueError(f"unknown artifact {name!r} in a RunConfig declaration")
    return field(default=default, metadata={"affects": affects, "doc": doc, "minimum": minimum, "neutral": neutral})


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of a zsb run. Defaults are the synthetic benchmark's CPU preset."""

    # --- data (01_data) ---
    benchmark: str = param("synthetic", "manifest", "synthetic | sketchy_mini | sketchy_ext | tuberlin_ext | quickdraw_ext")
    data_root: str = param("", "manifest", "dataset folder; empty: none needed (synthetic is generated into a cache)")
    split: str = param("", "manifest", "zero-shot class split; empty: the benchmark's standard split")
    max_seen_classes: int = param(0, "manifest", "keep only the first N seen classes, 0: all (smoke runs)")
    max_unseen_classes: int = param(0, "manifest", "keep only the first N unseen classes, 0: all")
    max_per_class: int = param(0, "manifest", "keep at most N images per class and domain, 0: all")
    evaluate_on: str = param("test", "manifest",
                             "test: train on all seen classes, evaluate on the test classes | validation: evaluate "
                             "on validation classes held out from the seen ones (make every choice here)")
    # --- backbone (the teacher, the frozen baseline and the student's initialisation) ---
    backbone: str = param("efficientnet_lite0", ("knowledge", "frozen_features"),
                          "efficientnet_lite0 | efficientnet_lite1 | efficientnet_lite2: weights ship with pip | "
                          "resnet50: the paper's")
    weights: str = param("imagenet", ("knowledge", "frozen_features"),
                         "imagenet, a path to a state dict, or none (random init from a fixed seed: tests)")
    image_size: int = param(128, ("knowledge", "frozen_features"), "square input size in pixels")
    # --- semantic knowledge (02_knowledge) ---
    kd_temperature: float = param(2.0, "knowledge", "temperature T of the teacher's and the student's ImageNet softmax")
    kd_top_k: int = param(0, "knowledge", "keep the top-k ImageNet classes of each class's knowledge, 0: all 1000")
    # --- model and training (03_train) ---
    embed_dim: int = param(512, "checkpoint", "size of the retrieval embedding")
    classifier: str = param("linear", "checkpoint",
                            "seen-class classifier: linear on the raw embedding | cosine on the unit embedding")
    classifier_scale: float = param(64.0, "checkpoint", "logit scale of the cosine classifier (linear ignores it)")
    teacher: str = param("precomputed", "checkpoint",
                         "precomputed: class-oriented knowledge (the paper) | online: SAKE-style teacher per batch")
    kd_domains: str = param("sketch,photo", "checkpoint", "domains the knowledge preservation loss applies to")
    kd_scale_by_t2: bool = param(True, "checkpoint", "multiply the knowledge loss by T^2 (Hinton et al.)")
    freeze_stages: int = param(0, "checkpoint",
                               "leading backbone stages kept as pretrained (no gradient, no backward through them, "
                               "BatchNorm statistics fixed), the stem first: 0 trains all; Lite has 8, ResNet50 5",
                               neutral=True)
    freeze_imagenet_head: bool = param(False, "checkpoint",
                                       "keep the pretrained ImageNet classifier fixed: features must keep the knowledge")
    metric_loss: str = param("quadruplet", "checkpoint",
                             "quadruplet: domain-balanced (the paper) | triplet: sketch anchor, photo positive and negative")
    w_metric: float = param(1.0, "checkpoint", "weight of the quadruplet (or triplet) loss")
    w_classification: float = param(1.0, "checkpoint", "weight of the semantic classification loss")
    w_knowledge: float = param(1.0, "checkpoint", "weight of the semantic knowledge preservation loss")
    margin: float = param(0.2, "checkpoint", "hinge margin of the quadruplet / triplet loss")
    squared_distance: bool = param(False, "checkpoint",
                                   "compare squared Euclidean distances in the margin losses (default: plain)")
    mining: str = param("hard", "checkpoint", "negative mining in the batch: hard | semihard | random")
    label_smoothing: float = param(0.0, "checkpoint", "label smoothing of the semantic classification loss")
    epochs: int = param(2, "checkpoint", "passes over the training set")
    classes_per_batch: int = param(16, "checkpoint", "P: classes in a domain-balanced batch")
    samples_per_domain: int = param(1, "checkpoint", "K: sketches and photos per class in a batch (batch 2 P K)")
    batches_per_epoch: int = param(0, "checkpoint", "0: enough batches to see every training image about once")
    lr_backbone: float = param(3e-4, "checkpoint", "Adam learning rate of the pretrained backbone")
    lr_head: float = param(1e-3, "checkpoint", "Adam learning rate of the new embedding and classifier heads")
    weight_decay: float = param(0.0, "checkpoint", "Adam weight decay")
    lr_schedule: str = param("cosine", "checkpoint", "cosine: decay to 0 over the run | constant")
    crop_scale: float = param(0.7, "checkpoint", "smallest area of the random resized crop (1.0: no crop)")
    precision: str = param("auto", "checkpoint",
                           "training arithmetic: auto (bf16 where the device has native bf16 units, else fp32; "
                           "recorded resolved) | fp32 | bf16")
    seed: int = param(0, "checkpoint", "seed of training; one seed makes CPU runs identical (the first of seeds)")
    seeds: str = param("", "seed_checkpoints",
                       "comma-separated training seeds: train, evaluate and ablate once per seed (seeds/<seed>/), "
                       "tables give mean, sd and intervals; the first is seed; empty: seed alone")
    # --- evaluation (04_evaluate) ---
    eval_hflip: bool = param(False, ("features", "frozen_features"),
                             "test-time flip: average each image's embedding with its mirror image's")
    eval_both_flips: bool = param(False, ("features", "frozen_features"),
                                  "also report the metrics of the other test-time flip setting (one pass)")
    binary_bits: int = param(0, "binary",
                             "0: none | bits of ITQ binary codes (SEM-PCYC's 64) fitted on the seen classes' training "
                             "embeddings, ranked by Hamming distance and reported beside the real-valued result")
    # --- ablation (06_ablation) ---
    ablation_epochs: int = param(1, "variants", "epochs of each ablation variant, 0: same as epochs")
    ablation_variants: str = param(
        "full,no_knowledge,no_classification,no_quadruplet,triplet,frozen,online_teacher", "ablation_table",
        "comma-separated ablation variants to train and tabulate; variant:N runs only the first N seeds")
    # --- execution ---
    device: str = param("auto", EXECUTION, "auto | cpu | cuda")
    num_workers: int = param(0, EXECUTION, "DataLoader worker processes; -1: the CPUs this process may use, less "
                                           "one, shared among the training processes", minimum=-1)
    cache_images: bool = param(True, EXECUTION, "keep decoded, resized images in memory (small benchmarks)")
    eval_batch_size: int = param(128, EXECUTION, "batch size of feature extraction")
    progress: bool = param(True, EXECUTION, "tqdm progress bars, plain text")
    processes: int = param(1, EXECUTION, "training processes on this machine, one per GPU; above 1: data-parallel "
                                         "under torchrun, the single process's result up to float rounding")
    compile: bool = param(False, EXECUTION, "torch.compile the network before training (GPU: faster steps after a "
                                            "compilation of a minute or two; CPU: rarely worth it)")

    def replace(self, **changes: Any) -> "RunConfig":
        return validated(dataclasses.asdict(self) | changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def settings(self, *artifacts: str) -> dict[str, Any]:
        """The parameters ``artifacts`` depend on, by name (all result-relevant ones when none is given)."""
        return self.values(parameters_of(*artifacts))

    def values(self, names: tuple[str, ...]) -> dict[str, Any]:
        """``names`` and their values, less any parameter at its neutral default (:func:`param`)."""
        d = self.to_dict()
        return {name: d[name] for name in names if not (name in NEUTRAL and d[name] == NEUTRAL[name])}

    def fingerprint(self, *artifacts: str) -> str:
        """A short hash of :meth:`settings`: equal fingerprints, equal artifacts."""
        return short_hash(self.settings(*artifacts))

    @property
    def kd_domain_list(self) -> tuple[str, ...]:
        return tuple(d.strip() for d in self.kd_domains.split(",") if d.strip())

    @property
    def seed_list(self) -> tuple[int, ...]:
        """The training seeds of the run: ``seeds``, or ``(seed,)`` when it is empty."""
        return parse_seeds(self.seeds) or (self.seed,)

    @property
    def variant_list(self) -> tuple[str, ...]:
        return tuple(self.variant_seeds)

    @property
    def variant_seeds(self) -> dict[str, tuple[int, ...]]:
        """Each ablation variant and the seeds it runs: all of :attr:`seed_list`, or the first N for ``name:N``."""
        wanted: dict[str, tuple[int, ...]] = {}
        for item in (v.strip() for v in self.ablation_variants.split(",") if v.strip()):
            name, _, count = item.partition(":")
            try:
                n = int(count) if count else len(self.seed_list)
            except ValueError:
                n = 0
            if n < 1:
                raise ConfigError(f"ablation_variants lists {item!r}: write variant or variant:N with N >= 1 seeds")
            wanted[name.strip()] = self.seed_list[:n]
        return wanted


FIELD_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(RunConfig)}
AFFECTS: dict[str, tuple[str, ...]] = {f.name: f.metadata["affects"] for f in fields(RunConfig)}
DOCS: dict[str, str] = {f.name: f.metadata["doc"] for f in fields(RunConfig)}
NEUTRAL: dict[str, Any] = {f.name: f.default for f in fields(RunConfig) if f.metadata["neutral"]}
"""The parameters with a neutral default, and that default (:func:`param`)."""


@lru_cache(maxsize=None)
def upstream(artifact: str) -> frozenset[str]:
    """``artifact`` and every artifact it is made from, directly or not."""
    if artifact not in ARTIFACTS:
        raise ValueError(f"unknown artifact {artifact!r}; one of {', '.join(ARTIFACTS)}")
    return frozenset({artifact}).union(*(upstream(a) for a in ARTIFACTS[artifact].made_from))


def downstream(artifact: str) -> frozenset[str]:
    """``artifact`` and every artifact made from it: what a change of ``artifact`` makes stale."""
    return frozenset(a for a in ARTIFACTS if artifact in upstream(a))


@lru_cache(maxsize=None)
def parameters_of(*artifacts: str) -> tuple[str, ...]:
    """The parameters the given artifacts depend on, in declaration order (every result-relevant one when none
    is given): those declared on the artifacts or on anything they are made from."""
    wanted = frozenset().union(*(upstream(a) for a in artifacts)) if artifacts else frozenset(ARTIFACTS)
    return tuple(name for name, affects in AFFECTS.items() if wanted & set(affects))


EXECUTION_ONLY: tuple[str, ...] = tuple(name for name, affects in AFFECTS.items() if affects == (EXECUTION,))
RUN_ID_PARAMETERS: tuple[str, ...] = tuple(
    name for name in parameters_of() if not set(AFFECTS[name]) <= {"ablation_table", "seed_checkpoints"}
)
"""The parameters that name a run folder: all result-relevant ones except those that only choose which ablation
variants are tabulated and which further seeds are run, so asking for more variants or seeds reuses the folder
and trains only what is new."""


def short_hash(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:10]


def canonical_json(settings: Mapping[str, Any]) -> str:
    """``settings`` as a canonical JSON string (sorted keys, no spaces): equal settings give equal strings."""
    try:
        return json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"settings must be JSON-serialisable (str, int, float, bool, None, lists, dicts): {e}. "
            "Convert paths and tensors to strings or lists first."
        ) from e


CHOICES: dict[str, tuple[str, ...]] = {
    "evaluate_on": ("test", "validation"),
    "classifier": ("linear", "cosine"),
    "teacher": ("precomputed", "online"),
    "metric_loss": ("quadruplet", "triplet"),
    "mining": ("hard", "semihard", "random"),
    "lr_schedule": ("cosine", "constant"),
    "precision": ("auto", "fp32", "bf16"),
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
UNTRAINED_VARIANTS = frozenset(name for name, changes in ABLATION_VARIANTS.items() if changes.get("epochs") == 0)
"""The ablation variants that are not trained (the frozen ImageNet features): baselines, not a component removed."""

PRESETS: dict[str, dict[str, Any]] = {
    "synthetic": {
        # The embedded default must finish within 10 minutes on 2 cores without bf16 units: 1 epoch (so the
        # ablation's "full" is the main run) on 20 of the 40 generated images per class and domain, chosen on
        # validation classes (the measurements: README.md, Quickstart; benchmarks/bench_embedded_default.py).
        "epochs": 1,
        "max_per_class": 20,
    },
    "sketchy_mini": {
        "image_size": 224,
        "epochs": 6,
        "ablation_epochs": 3,
        "eval_both_flips": True,  # the papers' protocol (no flip) is the headline; the flip is reported beside
        "binary_bits": 64,
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
            "num_workers": -1,
            "compile": True,
            "cache_images": False,
            "eval_batch_size": 256,
            "binary_bits": 64,
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
    minimum = RunConfig.__dataclass_fields__[name].metadata["minimum"]
    if kind in (int, float) and value < minimum:
        raise ConfigError(f"parameter {name}={value!r} must not be negative" if minimum == 0 else
                          f"parameter {name}={value!r} must be {minimum} or more ({DOCS[name]})")
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


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``: distinct non-negative integers, in the order given."""
    try:
        seeds = tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        seeds = (-1,)
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={text!r}: write distinct non-negative integers separated by commas, e.g. 0,1,2")
    return seeds


def validated(values: Mapping[str, Any]) -> RunConfig:
    """Build a RunConfig from a mapping, checking every name, type and choice. With ``seeds``, ``seed`` is its
    first entry."""
    checked = {name: coerce(name, value) for name, value in values.items()}
    seeds = parse_seeds(checked.get("seeds", ""))
    if seeds:
        checked["seed"] = seeds[0]
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
    for variant in cfg.variant_seeds:
        if variant not in ABLATION_VARIANTS:
            raise ConfigError(
                f"unknown ablation variant {variant!r}; choose from {', '.join(ABLATION_VARIANTS)}"
            )
    if cfg.binary_bits < 0:
        raise ConfigError(f"binary_bits={cfg.binary_bits}: use 0 (no binary codes) or a number of bits such as 64")
    if cfg.image_size < 32:
        raise ConfigError(f"image_size={cfg.image_size} is too small; use 32 px or more")
    if cfg.classifier_scale <= 0:
        raise ConfigError(f"classifier_scale={cfg.classifier_scale} must be positive")
    if not cfg.label_smoothing < 1:
        raise ConfigError(f"label_smoothing={cfg.label_smoothing} must be in [0, 1)")
    if cfg.processes < 1:
        raise ConfigError(f"processes={cfg.processes}: use 1 (one process) or more (data-parallel training)")
    if cfg.classes_per_batch < 2 or cfg.samples_per_domain < 1:
        raise ConfigError("a batch needs classes_per_batch >= 2 and samples_per_domain >= 1 (negatives and positives)")
    return cfg


def resolve(overrides: Mapping[str, Any] | None = None, saved: Mapping[str, Any] | None = None) -> RunConfig:
    """Defaults <- benchmark preset <- ``saved`` (the parameters a run folder recorded,
    :meth:`zsb.artifacts.RunFolder.recorded_parameters`) <- overrides (``None`` values are ignored).

    A parameter that ``saved`` does not hold (recorded by an older zsb) takes the preset or default."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for name in overrides:
        if name not in FIELD_TYPES:
            raise ConfigError(unknown_name_message(name, FIELD_TYPES))
    saved = {k: v for k, v in (saved or {}).items() if k in FIELD_TYPES}
    benchmark = overrides.get("benchmark", saved.get("benchmark", RunConfig.benchmark))
    if saved and saved.get("benchmark") != benchmark:
        saved = {}  # another benchmark's run folder: its values do not apply
    preset = PRESETS.get(str(benchmark), {})
    cfg = validated({**preset, **saved, **overrides})
    from zsb.device import resolve_precision  # here: the declarations are read without torch

    return cfg.replace(precision=resolve_precision(cfg.precision, cfg.device)) if cfg.precision == "auto" else cfg


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
