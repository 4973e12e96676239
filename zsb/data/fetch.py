"""``zsb data fetch``: download a benchmark's data, or say where to get it by hand.

sketchy_mini is downloaded by zsb itself: the GitHub archive of one pinned commit of a public repository that holds
the subset (:data:`SKETCHY_MINI`). The archive, not each file's raw URL: one request instead of 6,250 (GitHub throttles
bursts of unauthenticated requests, and each request costs a round trip), and what matters is not the archive's bytes
(GitHub generates it on the fly, and its compression may change) but every file in it, each checked against the
SHA-256 list committed in zsb (``zsb/data/releases/sketchy_mini.sha256``, computed from the commit's blobs). An archive
generated on the fly may ignore range requests: an interrupted download resumes where the server honours ``Range``
(and the archive is the same, by its ETag) and restarts from the first byte where it does not.

The download goes to a hidden file beside the destination, extraction to a hidden staging folder beside it, and only
a staging folder whose every file matched its hash is renamed to the destination: the folder zsb reads is either
absent or complete. A rerun over a complete copy (every hash matches) downloads nothing.

The full releases are not downloaded: :data:`MANUAL_RELEASES` says where each is published (as the peers' own
download scripts and READMEs give it), what to download, where to put it and how to check it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from zsb.data.registry import data_dir, get_benchmark
from zsb.errors import ConfigError, DataError
from zsb.io import file_sha256

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """A benchmark's data as one archive that zsb downloads and checks file by file.

    Attributes:
        benchmark: the benchmark it holds (its ``fetched`` folder under :func:`data_dir` is the default destination).
        url: the archive (a gzipped tar whose one top folder holds ``members``).
        members: the folders under the archive's top folder that are extracted (nothing else is).
        hash_list: file in ``zsb/data/releases`` with the SHA-256 of every extracted file (``sha256sum`` format).
        source: where the data comes from.
        terms: the data's terms of use.
        citation: what to cite.
    """

    benchmark: str
    url: str
    members: tuple[str, ...]
    hash_list: str
    source: str
    terms: str
    citation: str

    def expected(self) -> dict[str, str]:
        """The committed hash list: relative path -> SHA-256."""
        return read_hash_list(resources.files("zsb.data") / "releases" / self.hash_list)

    def default_dest(self) -> Path:
        return data_dir() / get_benchmark(self.benchmark).fetched

    def notice(self) -> str:
        return f"Source: {self.source}\nTerms: {self.terms}\nCite: {self.citation}\n"


_SKETCHY_COMMIT = "ee2a0a3609f2107292482a4db7add9ab2cb27415"

SKETCHY_MINI = Archive(
    benchmark="sketchy_mini",
    url=f"https://codeload.github.com/sahibgoa/DCGAN-MNIST/tar.gz/{_SKETCHY_COMMIT}",
    members=("photo", "sketch"),
    hash_list="sketchy_mini.sha256",
    source=f"github.com/sahibgoa/DCGAN-MNIST at commit {_SKETCHY_COMMIT}, folders photo/ and sketch/: 125 Sketchy "
    "classes, 25 photos (JPEG) and 25 sketches (PNG, tx_000000000000, aligned to the photo) each, 256 x 256",
    terms="the photos come from ImageNet and keep their owners' copyright, the sketches are the Sketchy database's; "
    "use them for research only, cite the Sketchy database, and do not redistribute them",
    citation="Patsorn Sangkloy, Nathan Burnell, Cusuh Ham, James Hays. The Sketchy Database: Learning to Retrieve "
    "Badly Drawn Bunnies. ACM Transactions on Graphics 35(4) (SIGGRAPH 2016)",
)

ARCHIVES = {SKETCHY_MINI.benchmark: SKETCHY_MINI}

_UNREACHED = ("None of these addresses could be reached from the machine zsb was written on (no internet there): "
              "they are quoted from the peers' scripts, not tested.")

MANUAL_RELEASES = {
    "sketchy_ext": (
        "Sketchy Extended (Sangkloy et al., SIGGRAPH 2016; extended photos by Liu et al., CVPR 2017), 75,471 "
        "sketches and 73,002 photos of 125 classes.\n"
        "Published as SEM-PCYC's and Doodle2Search's download scripts fetch it (github.com/AnjanDutta/sem-pcyc, "
        "download_datasets.sh at commit 073dea6e; github.com/sounakdey/doodle2search, download_datasets.sh at commit "
        "8f642a1b), two Google Drive files:\n"
        "  Sketchy.7z (the Sketchy database, 256x256), Google Drive file id 0B7ISyeE8QtDdTjE1MG9Gcy1kSkE\n"
        "  extended_photo.zip (the extended photos), Google Drive file id 0B2U-hnwRkpRrdGZKTzkwbkEwVkk\n"
        "Put them so: extract Sketchy.7z in {dest}, rename its 256x256 folder to Sketchy, unzip extended_photo.zip "
        "into {dest}/Sketchy and rename EXTEND_image_sketchy to extended_photo. zsb reads "
        "{dest}/Sketchy/sketch/tx_000000000000 and {dest}/Sketchy/extended_photo (class folders as released).\n"
        "Or SAKE's release (github.com/qliu24/SAKE, README at commit 3b32cd55): "
        "https://cs.jhu.edu/~qliu24/ZSSBIR/dataset.zip, unzipped so that {dest}/Sketchy holds "
        "256x256/sketch/tx_000000000000_ready, EXTEND_image_sketchy_ready and 256x256/photo/tx_000000000000."
    ),
    "tuberlin_ext": (
        "TU-Berlin Extended (sketches: Eitz et al., SIGGRAPH 2012; extended with web photos by Zhang et al. 2016), "
        "20,000 sketches and 204,489 photos of 250 classes.\n"
        "Published as SEM-PCYC's and Doodle2Search's download scripts fetch it (same scripts as sketchy_ext):\n"
        "  sketches: http://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/sketches_png.zip\n"
        "  photos: images.zip, Google Drive file id 0B2U-hnwRkpRrMFVvTmFQa3dmSUk\n"
        "Put them so: unzip both into {dest}/TU-Berlin, rename png to sketches and ImageResized to images "
        "(zsb reads {dest}/TU-Berlin/sketches and {dest}/TU-Berlin/images; class spellings are normalised).\n"
        "Or SAKE's release: https://cs.jhu.edu/~qliu24/ZSSBIR/dataset.zip (README of github.com/qliu24/SAKE)."
    ),
    "quickdraw_ext": (
        "QuickDraw Extended (Dey et al., CVPR 2019), about 330,000 sketches and 204,000 photos of 110 classes.\n"
        "Published as Doodle2Search's README links it (github.com/sounakdey/doodle2search, README at commit "
        "0ae7d3e0):\n"
        "  sketches: http://datasets.cvc.uab.es/QuickDraw/QuickDraw_sketches_final.zip\n"
        "  photos: http://datasets.cvc.uab.es/QuickDraw/QuickDraw_images_final.zip\n"
        "Put them so: unzip both into {dest}/QuickDraw (zsb reads {dest}/QuickDraw/QuickDraw_sketches_final and "
        "{dest}/QuickDraw/QuickDraw_images_final, or the same folders renamed sketches and images)."
    ),
}
"""How to get each full release by hand (``{dest}``: where to put it)."""


def read_hash_list(path) -> dict[str, str]:
    """A ``sha256sum``-format list (``<hex>  <relative path>`` per line, ``#`` comments): path -> SHA-256."""
    expected = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DataError(f"{path}, line {number}: expected '<sha256>  <path>', found {line[:80]!r}")
        expected[name] = digest.lower()
    return expected


def manual_instructions(benchmark: str, dest: Path) -> str:
    """Where a full release is published, what to download, where to put it and how to check it."""
    text = MANUAL_RELEASES[benchmark].format(dest=dest)
    return (f"zsb does not download {benchmark}; get it by hand.\n{text}\n{_UNREACHED}\n"
            f"Then check the copy: zsb data check --benchmark {benchmark} --data-root {dest}\n")


def copy_differences(root: Path, members: tuple[str, ...], expected: dict[str, str]) -> list[str]:
    """How the files under ``root``'s ``members`` folders differ from ``expected``: one entry per missing, changed
    or unexpected file (empty: the copy is complete)."""
    found = {p.relative_to(root).as_posix(): p for m in members if (root / m).is_dir()
             for p in (root / m).rglob("*") if p.is_file()}
    problems = [f"{name}: missing" for name in sorted(expected.keys() - found.keys())]
    problems += [f"{name}: not in the release" for name in sorted(found.keys() - expected.keys())]
    problems += [f"{name}: changed" for name in sorted(expected.keys() & found.keys())
                 if file_sha256(found[name]) != expected[name]]
    return problems


def _no_network(archive: Archive, url: str, dest: Path, reason: object) -> DataError:
    return DataError(
        f"cannot reach {url} ({reason}). Get the data by hand: download that archive in a browser (or with curl) "
        f"on a machine with internet, extract its folders {' and '.join(m + '/' for m in archive.members)} from its "
        f"top folder into {dest}, then check it: zsb data check --benchmark {archive.benchmark} --data-root {dest}"
    )


def download(url: str, part: Path, progress: bool = True, attempts: int = 3) -> None:
    """Download ``url`` into ``part``, resuming an earlier partial ``part`` when the server honours ``Range`` for
    the same file (same ETag, recorded beside it), restarting from the first byte otherwise. A connection that drops
    is retried ``attempts`` times in all, each resuming. Raises ``urllib.error.URLError`` when no connection can be
    made, :class:`DataError` on an HTTP error or when every attempt was cut short (the partial file is kept: a rerun
    resumes it)."""
    meta_path = part.with_name(part.name + ".json")
    for attempt in range(1, attempts + 1):
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        have = part.stat().st_size if part.is_file() and meta.get("url") == url else 0
        headers = {"User-Agent": "zsb-data-fetch"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if meta.get("etag"):
                headers["If-Range"] = meta["etag"]
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
                length = response.headers.get("Content-Length")
                resumed = response.status == 206 and response.headers.get("Content-Range", "").startswith(
                    f"bytes {have}-")
                if response.status == 206 and not resumed:  # a range zsb did not ask for: start afresh
                    part.unlink(missing_ok=True)
                    continue
                start = have if resumed else 0
                total = start + int(length) if length is not None else None
                meta_path.write_text(json.dumps({"url": url, "etag": response.headers.get("ETag")}))
                with open(part, "ab" if resumed else "wb") as out, tqdm(
                        total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                        desc="download" + (" (resumed)" if resumed else ""), disable=not progress) as bar:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
            if total is None or part.stat().st_size == total:
                meta_path.unlink()
                return
        except urllib.error.HTTPError as error:
            if error.code == 416:  # the range is past the end: the partial file is not this archive's start
                part.unlink(missing_ok=True)
                continue
            raise DataError(f"{url} answered HTTP {error.code} {error.reason}; rerun later, or get the data by "
                            "hand (see zsb data fetch --help)") from error
        except urllib.error.URLError:
            if attempt == 1 and not have:
                raise
        except (http.client.HTTPException, ConnectionError, socket.timeout):
            pass  # cut short: the next attempt resumes what arrived
    raise DataError(f"the download of {url} was cut short {attempts} times; what arrived is kept in {part}: rerun "
                    "zsb data fetch to resume it")


def extract_checked(archive_path: Path, members: tuple[str, ...], expected: dict[str, str], staging: Path) -> None:
    """Extract the files under ``members`` of the archive's top folder into ``staging``, hashing each as it is
    written; DataError naming every file that is missing, changed or not in ``expected``."""
    seen, problems = set(), []
    try:
        with tarfile.open(archive_path, "r|*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if len(parts) < 3 or parts[1] not in members or not member.isfile():
                    continue
                name = Path(*parts[1:]).as_posix()
                if ".." in parts or name not in expected:
                    problems.append(f"{name}: not in the release")
                    continue
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                seen.add(name)
                if digest.hexdigest() != expected[name]:
                    problems.append(f"{name}: SHA-256 {digest.hexdigest()[:16]}..., expected {expected[name][:16]}...")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"the downloaded archive {archive_path.name} is damaged or truncated ({error}); it was "
                        "deleted: rerun zsb data fetch to download it again") from error
    problems += [f"{name}: missing from the archive" for name in sorted(expected.keys() - seen)]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise DataError(f"{len(problems)} of the downloaded files differ from the release zsb knows ({shown}). "
                        "Nothing was written where zsb reads; the archive was deleted. Rerun to download it again; "
                        "if it differs again, the source has changed: report it")


def fetch(archive: Archive, dest: Path | None = None, url: str | None = None,
          expected: dict[str, str] | None = None, progress: bool = True) -> bool:
    """Download ``archive`` into ``dest`` (default: :meth:`Archive.default_dest`), each file checked against
    ``expected`` (default: the committed hash list). Returns False when ``dest`` already held a complete copy
    (nothing downloaded), True after a download. DataError when ``dest`` holds something else, when the server
    cannot be reached (saying how to get the data by hand) or when a file differs."""
    dest = Path(dest if dest is not None else archive.default_dest()).expanduser().absolute()
    url = url or archive.url
    expected = expected if expected is not None else archive.expected()
    if dest.exists() and any(dest.iterdir()):
        problems = copy_differences(dest, archive.members, expected)
        if not problems:
            return False
        raise DataError(f"{dest} exists and is not a complete copy of {archive.benchmark} ({len(problems)} "
                        f"differences, e.g. {problems[0]}); remove it or choose another --dest, then rerun")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create {dest.parent} ({error}); choose a writable --dest or set $ZSB_DATA") from error
    part = dest.parent / f".{dest.name}.download"
    try:
        download(url, part, progress)
    except urllib.error.URLError as error:
        raise _no_network(archive, url, dest, error.reason) from error
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
    try:
        extract_checked(part, archive.members, expected, staging)
        (staging / "README.md").write_text(f"# {archive.benchmark}\n\n{archive.notice()}", encoding="utf-8")
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        part.unlink(missing_ok=True)
        raise
    part.unlink(missing_ok=True)
    return True


def fetch_command(benchmark: str, dest: Path | None, url: str | None, hash_list: Path | None,
                  progress: bool) -> tuple[int, str]:
    """What ``zsb data fetch`` prints and its exit status: 0 with the data in place, 1 with instructions for a
    release zsb does not download."""
    if benchmark in MANUAL_RELEASES:
        return 1, manual_instructions(benchmark, Path(dest or data_dir()).expanduser())
    if benchmark not in ARCHIVES:
        names = ", ".join([*ARCHIVES, *MANUAL_RELEASES])
        raise ConfigError(f"zsb data fetch knows {names}; '{benchmark}' is not one of them (synthetic is generated "
                          "by zsb reproduce itself)")
    archive = ARCHIVES[benchmark]
    target = Path(dest or archive.default_dest()).expanduser().absolute()
    print(archive.notice(), end="", flush=True)
    expected = read_hash_list(hash_list) if hash_list else None
    downloaded = fetch(archive, target, url, expected, progress)
    state = ("downloaded and checked" if downloaded
             else "already complete (every file's SHA-256 matches): nothing downloaded")
    return 0, f"{benchmark}: {target} {state}.\n"
