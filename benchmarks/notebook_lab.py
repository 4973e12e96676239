"""A notebook in JupyterLab driven by headless Chromium (Playwright): serve a folder on 127.0.0.1 with a random token
and settings of its own, run every cell, draw strokes on a canvas with the mouse. The browser test of the drawing pad
and the script that draws the README's query sketch both use it."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
LAB_SETTINGS = {
    "notebook-extension/tracker": {"windowingMode": "none",  # every cell in the DOM
                                   "autoStartDefaultKernel": True},  # no kernel dialog
    "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},  # offline
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_lab(root: Path, tmp: Path, env: dict[str, str], start_s: float) -> Iterator[str]:
    """JupyterLab serving ``root`` on 127.0.0.1 with a random token, its settings, workspaces, configuration and
    runtime files under ``tmp`` and its output in ``tmp/jupyter.log``, with ``env`` for the server and its kernels;
    yields its base address with the token (``http://127.0.0.1:PORT/lab/tree/{}?token=...``) once it answers, and
    shuts it down (its kernels with it) afterwards. A RuntimeError when it exits or does not answer in ``start_s``."""
    settings = tmp / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / "@jupyterlab" / f"{name}.jupyterlab-settings").parent.mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    env = {**env, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
           "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--ServerApp.allow_root=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        deadline = time.monotonic() + start_s
        while True:
            if server.poll() is not None:
                log.flush()
                output = (tmp / "jupyter.log").read_text()[-3000:]
                raise RuntimeError(f"jupyter lab exited ({server.returncode}): {output}")
            try:
                with direct.open(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer within {start_s} s")
            time.sleep(0.5)
        yield f"{base}/lab/tree/{{}}?token={token}"
    finally:
        server.terminate()  # the server shuts its kernels down
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def run_all_cells(page, timeout_s: float):
    """From the opened notebook to the drawing pad: wait for the kernel (status bar: "<kernel> | Idle"), Run > Run
    All Cells, then wait for the drawing pad (its canvas, buttons and output area); the pad's locator."""
    page.locator(".jp-Notebook").wait_for(timeout=120_000)
    kernel = page.locator(".jp-StatusBar-TextItem", has_text="| Idle").filter(has_not_text="No Kernel")
    kernel.first.wait_for(timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    pad = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator("canvas")).last
    deadline = time.monotonic() + timeout_s
    while not pad.locator("canvas").is_visible():
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.is_visible():  # a kernel choice asked for all the same: the notebook's own (python3)
            dialog.click()
        if time.monotonic() > deadline:
            raise AssertionError(f"the drawing pad did not appear within {timeout_s} s")
        page.wait_for_timeout(500)
    return pad


def draw(page, canvas, strokes, steps: int = 12) -> None:
    """Each stroke as a person draws it: press, move through its points (``steps`` mouse events to each), release
    (canvas pixels, scaled to the canvas as shown)."""
    box = canvas.bounding_box()
    scale = box["width"] / int(canvas.get_attribute("width"))
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=steps)
        page.mouse.up()
