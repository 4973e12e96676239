"""Export a finished run's trained model as a self-contained folder, and load it back: ``zsb export RUN_DIR DEST``
and :func:`load_model`.

An export folder holds::

    model.safetensors     the trained ZSBModel's state dict (safetensors: plain tensors, nothing is unpickled), its
                          floating-point tensors in float32, or in float16 for ``half=True`` (half the size; loading
                          restores float32, so only the stored weights are rounded: measure what that costs)
    config.json           the run's resolved parameters, as recorded in the run folder
    metrics.json          the run's evaluation of this model (metrics, bootstrap intervals, ImageNet overlap)
    metrics_seeds.json    the spread over training seeds, when the run trained several
    README.md             the model card
    export.json           the format, the architecture, the preprocessing and the SHA-256 and size of every file above

Loading (:func:`load_model`, ``zsb search --model DEST``) reads ``export.json``, checks every listed file's size and
SHA-256 (the weights are hashed and deserialised from the same bytes) and refuses, with an :class:`ExportError`
naming the file, anything missing, truncated or changed. ``export.json`` is the root of the check: it is not
hashed itself; compare its SHA-256 with the one the exporter published to detect a swapped manifest.

Only a finished run is exported: its checkpoint must hold the last epoch of its configuration, and its
``metrics.json`` must be the evaluation of that configuration's trained model (04_evaluate), so the model card's
numbers describe these weights. An existing, non-empty ``DEST`` is refused; ``force=True`` (``--force``) replaces
it only when it is an earlier zsb export (any other folder is never deleted). The export is written into a
temporary sibling folder and renamed into place, so an interrupted export leaves no half-written ``DEST``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from zsb.artifacts import RunFolder
from zsb.backbones import BACKBONES, Preprocessing, build_backbone
from zsb.errors import WeightsError, ZSBError

EXPORT_FORMAT = "zsb-export/1"
MANIFEST_NAME = "export.json"
WEIGHTS_NAME = "model.safetensors"
_RUN = RunFolder(Path())
CONFIG_NAME, METRICS_NAME, SEEDS_METRICS_NAME = (_RUN.config_path.name, _RUN.metrics_path().name,
                                                 _RUN.seeds_metrics_path.name)
"""The run folder's files that an export keeps, under the run folder's names."""
CARD_NAME = "README.md"
REQUIRED = (WEIGHTS_NAME, CONFIG_NAME, METRICS_NAME, CARD_NAME)
"""Files every export has (``metrics_seeds.json`` is optional)."""


class ExportError(WeightsError):
    """An export folder that cannot be used (missing, tampered or truncated file), or a run that cannot be exported."""


@dataclass(frozen=True)
class ExportPreprocessing(Preprocessing):
    """How an image becomes the model's input: the backbone's :class:`~zsb.backbones.Preprocessing` at the run's
    size (resize the whole RGB image to ``image_size`` x ``image_size`` with ``interpolation``, scale to [0, 1],
    subtract ``mean`` and divide by ``std`` per channel). ``hflip``: the run averaged each L2-normalised embedding
    with its mirror image's (test-time flip) before normalising again."""

    image_size: int
    hflip: bool = False

    def transform(self):
        """zsb's evaluation transform (an RGB PIL image to a (3, size, size) tensor)."""
        from zsb.data.transforms import build_transform

        return build_transform(self, self.image_size, train=False)


@dataclass
class ExportedModel:
    """A loaded export: ``model`` (a :class:`~zsb.model.ZSBModel` in eval mode), its ``preprocessing``, the
    recorded ``config`` parameters and ``metrics``, and ``weights_sha256`` (the model's identity)."""

    model: Any
    preprocessing: ExportPreprocessing
    weights_sha256: str
    folder: Path
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def load_image(self, path: str | os.PathLike) -> torch.Tensor:
        """The sketch or photo at ``path`` as a (1, 3, size, size) input batch, read as ``zsb search`` reads it: RGB,
        transparent pixels painted white (a drawing saved on a transparent background), then :attr:`preprocessing`."""
        from zsb.data.datasets import read_image

        return self.preprocessing.transform()(read_image(path)).unsqueeze(0)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, embed_dim) L2-normalised embeddings of a preprocessed (B, 3, H, W) batch (no test-time flip), computed
        as the pipeline does: on the model's device, channels-last."""
        from zsb.device import to_input

        return self.model.embed(to_input(images, next(self.model.parameters()).device))


# --- export ---


def export_run(run_dir: str | os.PathLike, dest: str | os.PathLike, force: bool = False, half: bool = False) -> Path:
    """Export the trained model of the finished run in ``run_dir`` to the folder ``dest`` (see the module doc);
    ``half`` stores the weights in float16."""
    from safetensors.torch import save

    from zsb.run.context import Run
    from zsb.run.stages import trained_model
    from zsb.io import file_sha256

    folder = RunFolder(Path(run_dir))
    dest = Path(dest)
    if not folder.config_path.is_file():
        raise ExportError(f"{folder.dir} is not a run folder: it has no {CONFIG_NAME}. Pass the folder of a finished "
                          "run, e.g. results/<benchmark>/runs/<run_id>.")
    _check_destination(dest, force)
    run = Run(folder, folder.read_config())
    cfg = run.cfg
    model = trained_model(run)  # ZSBError: no checkpoint, or training stopped before the last epoch
    metrics_path = folder.metrics_path("trained")
    if not metrics_path.is_file():
        raise ExportError(f"{folder.dir} has no {METRICS_NAME}: the trained model was never evaluated. Run the "
                          "evaluation stage first (zsb reproduce --stages 04_evaluate), then export.")
    metrics = _read_json(metrics_path)
    if metrics.get("which") != "trained" or metrics.get("fingerprint") != cfg.fingerprint("features"):
        raise ExportError(f"{metrics_path} does not evaluate this run's trained model (made with other parameters, "
                          "or before a retraining). Rerun the evaluation stage (04_evaluate), then export.")
    seeds_path = folder.seeds_metrics_path
    preprocessing = ExportPreprocessing(**asdict(BACKBONES[cfg.backbone].preprocessing), image_size=cfg.image_size,
                                        hflip=bool(cfg.eval_hflip))
    architecture = model.architecture()
    stored = torch.float16 if half else torch.float32
    state = {name: (tensor.to(stored) if tensor.is_floating_point() else tensor).detach().cpu().contiguous()
             for name, tensor in model.state_dict().items()}
    weights = save(state, metadata={"format": EXPORT_FORMAT, "architecture": json.dumps(architecture, sort_keys=True)})
    contents: dict[str, bytes] = {
        WEIGHTS_NAME: weights,
        CONFIG_NAME: folder.config_path.read_bytes(),
        METRICS_NAME: metrics_path.read_bytes(),
    }
    seeds = None
    if seeds_path.is_file():
        contents[SEEDS_METRICS_NAME] = seeds_path.read_bytes()
        seeds = _read_json(seeds_path)
    weights_sha256 = hashlib.sha256(weights).hexdigest()
    contents[CARD_NAME] = model_card(cfg.to_dict(), architecture, preprocessing, metrics, seeds,
                                     weights_sha256, stored).encode()
    manifest = {
        "format": EXPORT_FORMAT,
        "architecture": architecture,
        "preprocessing": asdict(preprocessing),
        "stored_dtype": str(stored).removeprefix("torch."),
        "source": {"run_id": folder.dir.resolve().name, "checkpoint_sha256": file_sha256(folder.checkpoint_path),
                   "epochs": cfg.epochs},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for name, data in sorted(contents.items())},
    }
    _write_folder(dest, {**contents, MANIFEST_NAME: (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()})
    return dest


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder with a zsb export manifest (not whether its files are intact)."""
    manifest = Path(path) / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("format") == EXPORT_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_destination(dest: Path, force: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} exists and is not a folder; choose another destination.")
    if dest.is_dir() and any(dest.iterdir()):
        if not is_export(dest):
            raise ExportError(f"{dest} exists and is not empty (and is no zsb export, so --force will not replace "
                              "it either); choose a new or empty folder.")
        if not force:
            raise ExportError(f"{dest} already holds a zsb export; pass --force to replace it, or choose another "
                              "folder.")


def _write_folder(dest: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a temporary sibling of ``dest``, each atomically, then rename it into place (an earlier
    export at ``dest`` is moved aside first and removed after)."""
    from zsb.io import atomic_write_bytes

    parent = dest.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise ExportError(f"cannot write {dest}: {e.strerror or e}. Check that {parent} is writable.") from e
    old = None
    try:
        os.chmod(staging, 0o777 & ~_umask())
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        if dest.exists():
            old = parent / f".{dest.name}.{os.getpid()}.old"
            os.replace(dest, old)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and old.exists() and not dest.exists():
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"{path} cannot be read as JSON ({e}); rerun the stage that writes it.") from e
    if not isinstance(value, dict):
        raise ExportError(f"{path} is not a JSON object; rerun the stage that writes it.")
    return value


# --- the model card ---


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def model_card(parameters: dict, architecture: dict, preprocessing: ExportPreprocessing, metrics: dict,
               seeds: dict | None, weights_sha256: str, stored: torch.dtype = torch.float32) -> str:
    """The export's README.md: what the model is, how it was evaluated, its limits, and how to load it."""
    from zsb.data.imagenet import OVERLAP_CATEGORIES, overlap_sentence, overlap_summary
    from zsb.metrics import metric_header

    benchmark, split = metrics.get("benchmark", parameters.get("benchmark")), metrics.get("split")
    protocol = metrics.get("protocol") or []
    values, intervals = metrics.get("metrics", {}), metrics.get("intervals", {})
    lines = [
        f"# zsb model: {architecture['backbone']} fine-tuned on {benchmark} (split {split})",
        "",
        ("A zero-shot sketch-based image retrieval (ZS-SBIR) model trained with zsb, the reproducible companion to "
        '"An efficient framework for zero-shot sketch-based image retrieval" (Tursun, Denman, Sridharan, Goan, '
        "Fookes; Pattern Recognition 126, 2022): one ImageNet-pretrained CNN shared by sketches and photos, "
        "fine-tuned with a domain-balanced quadruplet loss, semantic classification and semantic knowledge "
        "preservation. It maps a sketch or a photo to an L2-normalised embedding; retrieval ranks photos by cosine "
        "similarity to the sketch's embedding."),
        "",
        "| | |",
        "|---|---|",
        f"| backbone | {architecture['backbone']} |",
        f"| embedding size | {architecture['embed_dim']} |",
        f"| seen training classes | {architecture['num_seen_classes']} |",
        f"| seen-class classifier | {architecture['classifier']} |",
        f"| training epochs | {parameters.get('epochs')} (seed {parameters.get('seed')}) |",
        f"| pretrained weights | {parameters.get('weights')} |",
        (f"| input | {preprocessing.image_size} x {preprocessing.image_size} RGB, {preprocessing.interpolation} resize, "
        f"mean {list(preprocessing.mean)}, std {list(preprocessing.std)} |"),
        f"| test-time flip | {'yes: each embedding averaged with its mirror image' if preprocessing.hflip else 'no'} |",
        f"| weights SHA-256 | `{weights_sha256}` |",
        (f"| stored weights | {str(stored).removeprefix('torch.')}"
         + (": rounded from the float32 training weights and loaded as float32; the evaluation below is the "
            "float32 model's |" if stored != torch.float32 else " |")),
        "",
        "## Evaluation",
        "",
        (f"Benchmark **{benchmark}**, zero-shot split **{split}** (evaluated on: {metrics.get('evaluated_on')}): "
        f"{metrics.get('num_queries')} query sketches of the unseen classes against {metrics.get('num_gallery')} "
        f"photos. Protocol metrics: {', '.join(map(metric_header, protocol)) if protocol else 'none recorded'}; "
        "AP variants: exact is scikit-learn's non-interpolated average precision, VOC SAKE's interpolated one; "
        "chance mAP "
        f"{_number(metrics.get('chance_mAP'))}. Intervals: 95% percentile bootstrap of the mean, resampling queries, "
        "and resampling whole classes (the wider one is the honest one for new classes)."),
        "",
        "| metric | value | 95% interval (queries) | 95% interval (classes) |",
        "|---|---|---|---|",
    ]
    for metric in protocol or sorted(values):
        bounds = intervals.get(metric, {})
        shown = [f"[{_number(bounds[k]['low'])}, {_number(bounds[k]['high'])}]" if k in bounds else "n/a"
                 for k in ("query", "class")]
        lines.append(f"| {metric_header(metric)} | {_number(values.get(metric, 'n/a'))} | {shown[0]} | {shown[1]} |")
    if seeds and len(seeds.get("seeds", [])) > 1:
        lines += ["", (f"Over {len(seeds.get('seeds', []))} training seeds ({', '.join(map(str, seeds.get('seeds', [])))}; "
                      "this model is the first seed's):"), "",
                  "| metric | mean | sd | 95% interval (queries, pooled) | 95% interval (classes, pooled) |",
                  "|---|---|---|---|---|"]
        for metric, record in seeds.get("metrics", {}).items():
            interval = record.get("interval", {})
            shown = [f"[{_number(interval[k]['low'])}, {_number(interval[k]['high'])}]" if k in interval else "n/a"
                     for k in ("query", "class")]
            lines.append(f"| {metric_header(metric)} | {_number(record.get('mean'))} | {_number(record.get('sd'))} | "
                         f"{shown[0]} | {shown[1]} |")
    overlap = metrics.get("imagenet_overlap")
    lines += ["", "### ImageNet overlap of the test classes", ""]
    if overlap:
        summary = overlap_summary(overlap, parameters)
        named = {category: [name for name, value in summary["categories"].items() if value == category]
                 for category in OVERLAP_CATEGORIES[:3]}
        seen = summary["photos_in_imagenet1k"] > 0 or bool(named["concept only"])
        lines.append(
            f"{overlap_sentence(summary, 'test (unseen) classes')} ({overlap.get('photos_without_synset_id')} "
            "photos without a synset id)"
            + (": the pretrained backbone may have seen these classes, so they are not strictly zero-shot for it."
               if seen else ": as far as the file names tell, the pretrained backbone has seen none of them.")
            + "".join(f" {category.capitalize()}: {', '.join(names)}." for category, names in named.items() if names))
    else:
        lines.append("Not recorded by this run's evaluation.")
    lines += [
        "",
        "## Intended use and limitations",
        "",
        ("Research on zero-shot sketch-based image retrieval: ranking photos by similarity to a hand-drawn sketch, "
        "and reproducing or comparing with the paper's results. The numbers above hold for this benchmark's test "
        "classes and images only; classes far from the training classes and from ImageNet, photo styles unlike the "
        "benchmark's, or sketches unlike its drawings can retrieve much worse. The model inherits the biases of "
        "ImageNet and of the benchmark; it recognises no identities and must not be used to identify people or "
        "for decisions about them. A small or synthetic run (a smoke test) is not a useful retrieval model."),
        "",
        "## How to load it",
        "",
        "With zsb installed (`pip install -e .` in the zsb repository), the hashes of every file are checked first:",
        "",
        "```python",
        "import zsb",
        "",
        'exported = zsb.load_model("THIS_FOLDER")       # ZSBError if a file is missing, truncated or changed',
        'image = exported.load_image("sketch.png")      # as zsb search reads it: RGB, transparent pixels white',
        "embedding = exported.embed(image)                 # (1, embed_dim), L2-normalised",
        "```",
        "",
        ("Or search a folder of photos: `zsb search sketch.png --model THIS_FOLDER --gallery PHOTOS/`. The weights are "
        "a plain safetensors file (`safetensors.torch.load_file`), whose keys are those of `zsb.model.ZSBModel`; "
        "`export.json` lists the SHA-256 of every file."),
        "",
    ]
    return "\n".join(lines)


# --- loading ---


def _verified_bytes(folder: Path, name: str, expected: dict) -> bytes:
    path = folder / name
    if not path.is_file():
        raise ExportError(f"the export {folder} lacks {path.name} ({path}); export the run again.")
    data = path.read_bytes()
    if len(data) != expected.get("bytes") or hashlib.sha256(data).hexdigest() != expected.get("sha256"):
        what = "truncated" if len(data) < int(expected.get("bytes") or 0) else "changed"
        raise ExportError(f"{path} does not match the export's manifest (its SHA-256 or size differs: the file was "
                          f"{what} or damaged since the export); export the run again or restore the file.")
    return data


def read_export(dest: str | os.PathLike) -> tuple[dict, dict[str, bytes]]:
    """The manifest of the export in ``dest`` and the verified bytes of every file it lists."""
    folder = Path(dest)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ExportError(f"{folder} is not a zsb export: it has no {MANIFEST_NAME}. Make one with zsb export RUN_DIR "
                          f"{folder}.")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        if manifest.get("format") != EXPORT_FORMAT or not isinstance(files, dict):
            raise ValueError(f"format {manifest.get('format')!r}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ExportError(f"{manifest_path} is not a {EXPORT_FORMAT} manifest ({e}); export the run again.") from e
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise ExportError(f"{manifest_path} lists no {', '.join(missing)}; export the run again.")
    return manifest, {name: _verified_bytes(folder, name, files[name]) for name in files}


def load_model(dest: str | os.PathLike, device: str | torch.device = "cpu") -> ExportedModel:
    """The model exported to ``dest`` (:func:`export_run`), in eval mode on ``device``, after checking the SHA-256
    of every file; an :class:`ExportError` naming the file that is missing, truncated or changed."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from zsb.device import to_device
    from zsb.model import ZSBModel

    folder = Path(dest)
    manifest, files = read_export(folder)
    weights_path = folder / WEIGHTS_NAME
    try:
        architecture = manifest["architecture"]
        preprocessing = ExportPreprocessing(**{**manifest["preprocessing"],
                                               "mean": tuple(manifest["preprocessing"]["mean"]),
                                               "std": tuple(manifest["preprocessing"]["std"])})
        config = json.loads(files[CONFIG_NAME])
        metrics = json.loads(files[METRICS_NAME])
    except (KeyError, TypeError, ValueError) as e:
        raise ExportError(f"{folder / MANIFEST_NAME} or the files it lists are incomplete ({e}); export the run "
                          "again.") from e
    parameters = config.get("parameters", {}) if isinstance(config, dict) else {}
    for key, recorded in (("backbone", architecture.get("backbone")), ("embed_dim", architecture.get("embed_dim")),
                          ("image_size", preprocessing.image_size)):
        if key in parameters and parameters[key] != recorded:
            raise ExportError(f"{folder / CONFIG_NAME} says {key}={parameters[key]!r} but {folder / MANIFEST_NAME} "
                              f"says {recorded!r}; export the run again.")
    try:
        state = load(files[WEIGHTS_NAME])
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise ExportError(f"{weights_path} is not a readable safetensors file ({e}); export the run again.") from e
    try:
        model = ZSBModel(build_backbone(architecture["backbone"], weights=None),
                         num_seen_classes=architecture["num_seen_classes"], embed_dim=architecture["embed_dim"],
                         classifier=architecture["classifier"], classifier_scale=architecture["classifier_scale"])
        model.load_state_dict(state)  # copied into the model's float32 parameters, float16 weights included
    except (KeyError, RuntimeError, ZSBError) as e:
        raise ExportError(f"the weights in {weights_path} do not fit the architecture {architecture} of "
                          f"{folder / MANIFEST_NAME} ({str(e).splitlines()[0]}); export the run again.") from e
    model = to_device(model, torch.device(device)).eval()  # channels-last, as the pipeline runs it
    return ExportedModel(model, preprocessing, manifest["files"][WEIGHTS_NAME]["sha256"], folder,
                         config=parameters, metrics=metrics)
