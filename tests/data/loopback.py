"""An HTTP server on 127.0.0.1 that serves one archive as GitHub would, and can misbehave on purpose: cut the
connection after some bytes, ignore range requests. Started and stopped by the tests that use it."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from zsb.data.fetch import SKETCHY_MINI

TOP_FOLDER = "DCGAN-MNIST-" + SKETCHY_MINI.url.rsplit("/", 1)[1]
"""The top folder of GitHub's archive of the pinned commit."""


def build_archive(source: Path, replace: dict[str, bytes] | None = None) -> bytes:
    """A gzipped tar of ``source``'s photo/ and sketch/ under :data:`TOP_FOLDER`, with files outside them as the
    repository has (``replace``: relative path -> other bytes, to tamper with one file)."""
    replace = replace or {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{TOP_FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("README.md", b"# DCGAN-MNIST\n")
        add("discriminator.py", b"print('not part of the data')\n")
        for path in sorted(p for folder in ("photo", "sketch") for p in (source / folder).rglob("*") if p.is_file()):
            name = path.relative_to(source).as_posix()
            add(name, replace.get(name, path.read_bytes()))
    return buffer.getvalue()


def hash_list(source: Path) -> str:
    """The ``sha256sum``-format list of ``source``'s photo/ and sketch/ files, hashed here with hashlib."""
    lines = []
    for path in sorted(p for folder in ("photo", "sketch") for p in (source / folder).rglob("*") if p.is_file()):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(source).as_posix()}\n")
    return "".join(lines)


class ArchiveServer:
    """Serves ``payload`` at ``/archive.tar.gz`` on 127.0.0.1.

    honour_range: answer ``Range: bytes=N-`` with 206 and the rest of the archive (else 200 and all of it).
    cuts: how many of the next responses stop after ``cut_after`` bytes of their body, the connection then closed.
    requests: the ``Range`` header of every request (None when absent).
    """

    def __init__(self, payload: bytes, honour_range: bool = True, cuts: int = 0, cut_after: int = 0):
        self.payload, self.honour_range, self.cuts, self.cut_after = payload, honour_range, cuts, cut_after
        self.requests: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != "/archive.tar.gz":
                    self.send_error(404)
                    return
                wanted = self.headers.get("Range")
                server.requests.append(wanted)
                start = int(wanted[len("bytes="):].rstrip("-")) if wanted and server.honour_range else 0
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"archive-v1"')
                self.end_headers()
                if server.cuts:
                    server.cuts -= 1
                    self.wfile.write(body[:server.cut_after])
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ArchiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
