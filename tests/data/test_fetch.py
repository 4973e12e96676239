"""zsb data fetch against a real HTTP server on 127.0.0.1 serving an archive built here from the shared
sketchy-mini copy, checked against a hash list made here (the committed list of the originals goes through the same
code)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.data.loopback import ArchiveServer, build_archive, hash_list
from zsb.cli import main
from zsb.data.fetch import SKETCHY_MINI, MANUAL_RELEASES, data_dir, read_hash_list
from zsb.data.registry import get_benchmark


@pytest.fixture(scope="module")
def source(sketchy_mini_root) -> Path:
    return sketchy_mini_root


@pytest.fixture(scope="module")
def archive(source) -> bytes:
    return build_archive(source)


@pytest.fixture(scope="module")
def hashes(source, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hashes") / "sketchy_mini.sha256"
    path.write_text(hash_list(source))
    return path


def fetch(url: str, dest: Path, hashes: Path, *extra: str) -> int:
    return main(["data", "fetch", "sketchy_mini", "--url", url, "--dest", str(dest), "--sha256-list", str(hashes),
                 "--no-progress", *extra])


def data_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for folder in ("photo", "sketch") for p in (root / folder).rglob("*") if p.is_file()}


def assert_equal_trees(dest: Path, source: Path) -> None:
    fetched, original = data_files(dest), data_files(source)
    assert sorted(fetched) == sorted(original)
    assert all(fetched[name] == original[name] for name in original)
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "photo", "sketch"]  # nothing else extracted


def leftovers(parent: Path, dest: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name != dest.name)


def test_a_clean_fetch_equals_the_source_byte_for_byte_and_a_rerun_downloads_nothing(source, archive, hashes,
                                                                                      tmp_path, capsys):
    dest = tmp_path / "sketchy-mini"
    with ArchiveServer(archive) as server:
        assert fetch(server.url, dest, hashes) == 0
        out = capsys.readouterr().out
        assert "Sangkloy" in out and "SIGGRAPH 2016" in out and "research" in out  # the terms and the citation
        assert_equal_trees(dest, source)
        assert leftovers(tmp_path, dest) == []  # no partial download, no staging folder
        assert fetch(server.url, dest, hashes) == 0
        assert "nothing downloaded" in capsys.readouterr().out
        assert len(server.requests) == 1


@pytest.mark.parametrize("honour_range", [True, False], ids=["resumes", "server-ignores-range-restarts"])
def test_an_interrupted_download_continues_and_ends_complete(source, archive, hashes, tmp_path, honour_range):
    dest = tmp_path / "sketchy-mini"
    with ArchiveServer(archive, honour_range=honour_range, cuts=1, cut_after=len(archive) // 3) as server:
        assert fetch(server.url, dest, hashes) == 0
    assert server.requests == [None, f"bytes={len(archive) // 3}-"]  # the second asked for the rest
    assert_equal_trees(dest, source)
    assert leftovers(tmp_path, dest) == []


def test_a_download_cut_every_time_is_kept_and_a_rerun_resumes_it(source, archive, hashes, tmp_path, capsys):
    dest, cut = tmp_path / "sketchy-mini", len(archive) // 10
    with ArchiveServer(archive, cuts=3, cut_after=cut) as server:
        assert fetch(server.url, dest, hashes) == 2
        assert "rerun zsb data fetch to resume" in capsys.readouterr().err
        assert not dest.exists()
        assert (tmp_path / ".sketchy-mini.download").stat().st_size == 3 * cut
        assert fetch(server.url, dest, hashes) == 0
    assert server.requests[-1] == f"bytes={3 * cut}-"
    assert_equal_trees(dest, source)


def test_a_tampered_file_is_named_and_refused_with_nothing_left_where_zsb_reads(source, hashes, tmp_path, capsys):
    name = "photo/teapot/" + sorted((source / "photo" / "teapot").iterdir())[0].name
    tampered = bytearray((source / name).read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    dest = tmp_path / "sketchy-mini"
    with ArchiveServer(build_archive(source, {name: bytes(tampered)})) as server:
        assert fetch(server.url, dest, hashes) == 2
    err = capsys.readouterr().err
    assert name in err and "1 of the downloaded files differ" in err
    assert not dest.exists()
    assert leftovers(tmp_path, dest) == []  # the staging folder and the archive are gone


def test_no_network_is_one_line_with_status_2_saying_how_to_get_the_data_by_hand(hashes, tmp_path, capsys):
    with socket.socket() as probe:  # a port on which nothing listens: connection refused
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/archive.tar.gz"
    dest = tmp_path / "sketchy-mini"
    assert fetch(url, dest, hashes) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("zsb: error: cannot reach " + url)
    assert f"zsb data check --benchmark sketchy_mini --data-root {dest}" in err
    assert not dest.exists()


def test_an_existing_folder_that_differs_is_refused_and_kept(source, archive, hashes, tmp_path, capsys):
    dest = tmp_path / "sketchy-mini"
    (dest / "photo" / "teapot").mkdir(parents=True)
    (dest / "photo" / "teapot" / "mine.jpg").write_bytes(b"a user's file")
    with ArchiveServer(archive) as server:
        assert fetch(server.url, dest, hashes) == 2
        assert server.requests == []
    assert "is not a complete copy" in capsys.readouterr().err
    assert (dest / "photo" / "teapot" / "mine.jpg").read_bytes() == b"a user's file"


def test_the_default_destination_is_zsbs_data_folder_and_the_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ZSB_DATA", str(tmp_path / "data"))
    assert data_dir() == tmp_path / "data"
    assert SKETCHY_MINI.default_dest() == tmp_path / "data" / "sketchy-mini"
    with pytest.raises(Exception, match="zsb data fetch sketchy_mini"):
        get_benchmark("sketchy_mini").resolve_root(None)
    (tmp_path / "data" / "sketchy-mini").mkdir(parents=True)
    assert get_benchmark("sketchy_mini").resolve_root(None) == tmp_path / "data" / "sketchy-mini"
    monkeypatch.delenv("ZSB_DATA")
    monkeypatch.setenv("ZSB_CACHE", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "data"


def test_the_committed_hash_list_names_every_file_of_the_shared_copy(source):
    expected = read_hash_list(Path(__file__).resolve().parents[2] / "zsb/data/releases/sketchy_mini.sha256")
    assert expected == SKETCHY_MINI.expected()
    assert sorted(expected) == sorted(data_files(source))  # same names; not the same bytes (see the README)
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in expected.values())


@pytest.mark.parametrize("name", sorted(MANUAL_RELEASES))
def test_a_full_release_says_where_it_is_published_and_how_to_check_it(name, tmp_path, capsys):
    assert main(["data", "fetch", name, "--dest", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"zsb data check --benchmark {name} --data-root {tmp_path}" in out
    assert "not tested" in out and "github.com/" in out
    assert list(tmp_path.iterdir()) == []  # nothing downloaded
