"""Training loop: resumption is exact on CPU, checkpoints refuse other configurations, losses are weighted."""

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from zsb import engine, trainlog
from zsb.backbones import build_backbone
from zsb.checkpoint import load_checkpoint
from zsb.config import RunConfig
from zsb.data.sampler import DomainBalancedBatchSampler
from zsb.device import to_device, to_input
from zsb.embeddings import extract_embeddings
from zsb.errors import WeightsError
from zsb.losses import ParadigmLosses
from zsb.model import ZSBModel

NUM_CLASSES = 3


def tiny_setup(seed=0):
    torch.manual_seed(seed)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(4).repeat(2)
    domains = torch.cat([torch.zeros(12, dtype=torch.long), torch.ones(12, dtype=torch.long)])
    images = torch.randn(len(labels), 3, 32, 32)
    dataset = TensorDataset(images, labels, domains, torch.arange(len(labels)))
    sampler = DomainBalancedBatchSampler(labels.tolist(), domains.tolist(), classes_per_batch=3,
                                         samples_per_domain=2, seed=seed, batches_per_epoch=2)

    def loader_for_epoch(epoch):
        sampler.set_epoch(epoch)
        return DataLoader(dataset, batch_sampler=sampler)

    knowledge = torch.softmax(torch.randn(NUM_CLASSES, 1000), dim=1)
    return loader_for_epoch, knowledge


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return ZSBModel(build_backbone("efficientnet_lite0", weights=None), num_seen_classes=NUM_CLASSES, embed_dim=16)


CFG = RunConfig(epochs=3, progress=False, mining="random", device="cpu", seed=3)


class Crash(Exception):
    pass


class CrashMidEpoch:
    """A loader that yields one batch and then dies, like a process killed in the middle of an epoch."""

    def __init__(self, loader):
        self.loader, self.dataset = loader, loader.dataset

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        yield next(iter(self.loader))
        raise Crash


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    loader_for_epoch, knowledge = tiny_setup()
    straight = tiny_model()
    engine.train(straight, loader_for_epoch, CFG, tmp_path / "a", class_knowledge=knowledge)

    def crash_in_epoch_2(epoch):
        loader = loader_for_epoch(epoch)
        return CrashMidEpoch(loader) if epoch == 2 else loader

    with pytest.raises(Crash):
        engine.train(tiny_model(), crash_in_epoch_2, CFG, tmp_path / "b", class_knowledge=knowledge)
    assert torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1

    resumed = tiny_model(seed=99)  # another init: everything must come from the checkpoint
    history = engine.train(resumed, loader_for_epoch, CFG, tmp_path / "b", class_knowledge=knowledge)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    log = [json.loads(line) for line in (tmp_path / "b" / trainlog.LOG_NAME).read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]


def test_finished_run_is_not_retrained(tmp_path):
    loader_for_epoch, knowledge = tiny_setup()
    model = tiny_model()
    engine.train(model, loader_for_epoch, CFG.replace(epochs=1), tmp_path, class_knowledge=knowledge)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again = tiny_model(seed=5)
    history = engine.train(again, loader_for_epoch, CFG.replace(epochs=1), tmp_path, class_knowledge=knowledge)
    assert len(history) == 1
    assert all(torch.equal(before[k], v) for k, v in again.state_dict().items())


def test_checkpoint_from_other_configuration_is_refused(tmp_path):
    loader_for_epoch, knowledge = tiny_setup()
    engine.train(tiny_model(), loader_for_epoch, CFG.replace(epochs=1), tmp_path, class_knowledge=knowledge)
    path = tmp_path / "checkpoints" / "last.pt"
    with pytest.raises(WeightsError, match="other parameters"):
        engine.train(tiny_model(), loader_for_epoch, CFG.replace(epochs=1, margin=0.5), tmp_path,
                     class_knowledge=knowledge)
    other = ZSBModel(build_backbone("efficientnet_lite0", weights=None), num_seen_classes=NUM_CLASSES, embed_dim=8)
    with pytest.raises(WeightsError, match="made for model"):
        load_checkpoint(path, other)


def test_online_teacher_targets_are_the_teachers_softmax():
    teacher = build_backbone("efficientnet_lite0", weights=None).eval()
    images = torch.randn(2, 3, 32, 32)
    cfg = RunConfig(teacher="online", kd_temperature=2.0)
    targets = engine.knowledge_targets(cfg, torch.tensor([0, 1]), images, None, teacher)
    with torch.no_grad():
        expected = torch.softmax(teacher.imagenet_head(teacher(images)) / 2.0, dim=1)
    assert torch.allclose(targets, expected)
    precomputed = torch.softmax(torch.randn(3, 1000), dim=1)
    rows = engine.knowledge_targets(RunConfig(), torch.tensor([2, 0]), images, precomputed, None)
    assert torch.equal(rows, precomputed[[2, 0]])


def test_zero_weight_losses_are_skipped_and_total_is_the_weighted_sum():
    model = tiny_model()
    output = model(torch.randn(8, 3, 32, 32))
    labels = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    domains = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    targets = torch.softmax(torch.randn(8, 1000), dim=1)
    cfg = RunConfig(w_metric=0.5, w_classification=2.0, w_knowledge=0.0)
    terms = ParadigmLosses.from_config(cfg)(output, labels, domains, targets)
    assert "knowledge" not in terms
    assert torch.allclose(terms["total"], 0.5 * terms["quadruplet"] + 2.0 * terms["classification"])


def test_cosine_schedule_ends_at_zero_and_starts_at_one():
    assert engine.learning_rate_factor("cosine", 0, 10) == 1.0
    assert engine.learning_rate_factor("cosine", 10, 10) == pytest.approx(0.0)
    assert engine.learning_rate_factor("constant", 7, 10) == 1.0


def test_bf16_step_runs_the_network_in_bf16_and_the_losses_in_fp32():
    model = to_device(tiny_model(), torch.device("cpu"))
    optimizer = engine.build_optimizer(model, CFG)
    losses = ParadigmLosses.from_config(CFG)
    seen_dtypes = []
    model.embedding_head.register_forward_hook(lambda module, args, out: seen_dtypes.append(out.dtype))
    labels = torch.tensor([0, 1, 0, 1])
    domains = torch.tensor([0, 0, 1, 1])
    knowledge = torch.softmax(torch.randn(NUM_CLASSES, 1000), dim=1)
    images = to_input(torch.randn(4, 3, 32, 32), torch.device("cpu"))
    values = engine.train_step(model, optimizer, losses, CFG.replace(precision="bf16"), images, labels, domains,
                               knowledge)
    assert seen_dtypes == [torch.bfloat16]
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights


@pytest.mark.parametrize("freeze", [False, True])
def test_frozen_imagenet_head_gets_no_update_while_the_backbone_does(freeze):
    model = to_device(tiny_model(), torch.device("cpu"))
    cfg = CFG.replace(freeze_imagenet_head=freeze)
    optimizer = engine.build_optimizer(model, cfg)
    head_before = model.imagenet_head.weight.detach().clone()
    stem_before = next(model.backbone.parameters()).detach().clone()
    images = to_input(torch.randn(4, 3, 32, 32), torch.device("cpu"))
    knowledge = torch.softmax(torch.randn(NUM_CLASSES, 1000), dim=1)
    engine.train_step(model, optimizer, ParadigmLosses.from_config(cfg), cfg, images,
                      torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 1]), knowledge)
    assert torch.equal(model.imagenet_head.weight, head_before) == freeze
    assert model.imagenet_head.weight.requires_grad == (not freeze)
    assert not torch.equal(next(model.backbone.parameters()), stem_before)  # the features still learn


def test_bf16_training_is_deterministic_and_differs_from_fp32(tmp_path):
    loader_for_epoch, knowledge = tiny_setup()
    cfg = CFG.replace(precision="bf16", epochs=2)
    first = tiny_model()
    engine.train(first, loader_for_epoch, cfg, tmp_path / "a", class_knowledge=knowledge)
    again = tiny_model()
    engine.train(again, loader_for_epoch, cfg, tmp_path / "b", class_knowledge=knowledge)
    fp32 = tiny_model()
    engine.train(fp32, loader_for_epoch, cfg.replace(precision="fp32"), tmp_path / "c", class_knowledge=knowledge)
    weights = [m.embedding_head.weight for m in (first, again, fp32)]
    assert torch.equal(weights[0], weights[1])  # CPU bf16 is deterministic too
    assert not torch.equal(weights[0], weights[2])  # the precision really changed the arithmetic


def test_test_time_flip_averages_an_image_and_its_mirror_and_is_mirror_invariant():
    torch.manual_seed(0)
    encode = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    images = torch.randn(6, 3, 8, 8)
    loader = DataLoader(TensorDataset(images, torch.zeros(6)), batch_size=4)
    cpu = torch.device("cpu")
    with torch.no_grad():
        plain = extract_embeddings(encode, loader, cpu, progress=False)
        flipped = extract_embeddings(encode, loader, cpu, progress=False, hflip=True)
        mirrored_loader = DataLoader(TensorDataset(images.flip(3), torch.zeros(6)), batch_size=4)
        of_mirrors = extract_embeddings(encode, mirrored_loader, cpu, progress=False, hflip=True)
        expected = torch.nn.functional.normalize(
            torch.nn.functional.normalize(encode(images), dim=1)
            + torch.nn.functional.normalize(encode(images.flip(3)), dim=1), dim=1)
    assert torch.allclose(plain, torch.nn.functional.normalize(encode(images), dim=1).detach(), atol=1e-6)
    assert torch.allclose(flipped, expected, atol=1e-6)
    assert torch.allclose(flipped, of_mirrors, atol=1e-6)
    assert not torch.allclose(plain, flipped, atol=1e-3)


@pytest.mark.parametrize("compile", [False, True])
def test_compile_parameter_compiles_the_network_in_place(tmp_path, monkeypatch, compile):
    """``compile=True`` hands the network to torch.compile in place (``Module.compile``: the checkpoint keeps its
    keys). Compiling on CPU takes minutes, so the compiled arithmetic is checked on the GPU
    (benchmarks/gpu_check.sh), not here."""
    loader_for_epoch, knowledge = tiny_setup()
    model, calls = tiny_model(), []
    monkeypatch.setattr(model, "compile", lambda *args, **kwargs: calls.append((args, kwargs)))
    engine.train(model, loader_for_epoch, CFG.replace(epochs=1, compile=compile), tmp_path, class_knowledge=knowledge)
    assert calls == ([((), {})] if compile else [])
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert list(state) == list(tiny_model().state_dict())
