"""ResNet-50's ImageNet file is downloaded into the torch hub cache when missing, hash-checked, never half-written.

Every download here comes from a local http.server on 127.0.0.1 (the URL is injected through $ZSB_RESNET50_URL);
$TORCH_HOME points at a temporary folder, so neither the internet nor the real cache is ever touched.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import ClassVar
from urllib.error import URLError

import pytest
import torch

from zsb.backbones import _imagenet_state_dict, check_weights, fetch_imagenet_weights
from zsb.errors import WeightsError

FAKE_STATE_DICT = {"conv.weight": torch.arange(6.0).reshape(2, 3), "fc.bias": torch.ones(3)}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server of the folder ``served``: yields (folder, base URL, list of requested paths)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (_Quiet,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty $TORCH_HOME: returns the folder where the hub cache keeps checkpoints."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("ZSB_RESNET50_URL", raising=False)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    assert folder == tmp_path / "torch-home" / "hub" / "checkpoints"
    return folder


def _serve_fake(served: Path, prefix: str | None = None) -> tuple[str, str]:
    """Save the fake state dict under torchvision's naming (``<name>-<hash prefix>.pth``): (file name, true prefix)."""
    raw = served / "raw.pth"
    torch.save(FAKE_STATE_DICT, raw)
    true_prefix = hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    name = f"fake50-{prefix or true_prefix}.pth"
    raw.rename(served / name)
    return name, true_prefix


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _refused_port():
    """A socket bound to a free port without listening: connecting to it is refused. Close it after use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_missing_file_is_downloaded_into_the_cache_and_read(server, cache, monkeypatch):
    served, base, requests = server
    name, _ = _serve_fake(served)
    monkeypatch.setenv("ZSB_RESNET50_URL", f"{base}/{name}")

    path = fetch_imagenet_weights()
    assert path == cache / name
    assert _files(cache) == [name]  # no temporary file left next to it
    assert requests == [f"/{name}"]

    state_dict = _imagenet_state_dict("resnet50")  # read through the safe loader, no second download
    assert set(state_dict) == set(FAKE_STATE_DICT)
    assert all(torch.equal(state_dict[k], v) for k, v in FAKE_STATE_DICT.items())
    assert requests == [f"/{name}"]


def test_preflight_check_downloads_a_missing_file_instead_of_failing(server, cache, monkeypatch):
    served, base, requests = server
    name, _ = _serve_fake(served)
    monkeypatch.setenv("ZSB_RESNET50_URL", f"{base}/{name}")
    check_weights("resnet50", "imagenet")
    assert _files(cache) == [name]
    assert requests == [f"/{name}"]


def test_file_already_in_the_cache_is_used_without_download(cache, monkeypatch):
    sock = _refused_port()
    try:
        name = "fake50-0123abcd.pth"  # its hash is not checked again, as torchvision does not either
        cache.mkdir(parents=True)
        torch.save(FAKE_STATE_DICT, cache / name)
        monkeypatch.setenv("ZSB_RESNET50_URL", f"http://127.0.0.1:{sock.getsockname()[1]}/{name}")
        assert fetch_imagenet_weights() == cache / name
        assert torch.equal(_imagenet_state_dict("resnet50")["fc.bias"], FAKE_STATE_DICT["fc.bias"])
    finally:
        sock.close()


def test_download_with_a_wrong_hash_is_refused_and_removed(server, cache, monkeypatch):
    served, base, requests = server
    name, true_prefix = _serve_fake(served, prefix="00000000")
    assert true_prefix != "00000000"
    monkeypatch.setenv("ZSB_RESNET50_URL", f"{base}/{name}")

    with pytest.raises(WeightsError) as error:
        _imagenet_state_dict("resnet50")
    message = str(error.value)
    assert requests == [f"/{name}"]  # it was downloaded, then refused
    assert "00000000" in message and true_prefix in message
    assert name in message and str(cache) in message
    assert _files(cache) == []  # neither the file nor a temporary file is left


def test_connection_refused_names_the_file_the_folder_and_the_url(cache, monkeypatch):
    sock = _refused_port()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/resnet50-0676ba61.pth"
        monkeypatch.setenv("ZSB_RESNET50_URL", url)
        with pytest.raises(WeightsError) as error:
            check_weights("resnet50", "imagenet")
    finally:
        sock.close()
    message = str(error.value)
    assert "resnet50-0676ba61.pth" in message
    assert str(cache) in message
    assert url in message
    assert "failed" in message and "refused" in message.lower()
    assert _files(cache) == []


def test_default_url_is_torchvisions_with_its_hash_check_and_progress_bar(cache, monkeypatch):
    calls = []

    def offline(url, dst, hash_prefix=None, progress=True):
        calls.append((url, Path(dst).parent, hash_prefix, progress))
        raise URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError) as error:
        fetch_imagenet_weights()
    from torchvision.models import ResNet50_Weights

    url = ResNet50_Weights.IMAGENET1K_V1.url
    assert url.endswith("/resnet50-0676ba61.pth")
    assert calls == [(url, cache, "0676ba61", True)]
    assert "no network in tests" in str(error.value) and url in str(error.value)
