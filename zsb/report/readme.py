"""The one writer of generated text in a README: the text between a pair of marker lines is replaced, the rest of the
file kept byte for byte, atomically (:func:`zsb.io.atomic_write_text`)."""

from __future__ import annotations

from pathlib import Path

from zsb.errors import ZSBError
from zsb.io import atomic_write_text


def write_between_markers(readme: Path, markers: tuple[str, str], text: str, remedy: str) -> None:
    """Replace what lies between the lines ``markers`` (start, end) in ``readme`` with ``text``, which carries its
    own line breaks; a ZSBError, the file untouched, when the markers are missing or out of order (``remedy``: what
    to run once they are added)."""
    content = readme.read_text()
    start, end = (content.find(marker) for marker in markers)
    if start < 0 or end < start:
        raise ZSBError(f"{readme} lacks the lines {markers[0]} and {markers[1]} (in that order) that mark where the "
                       f"generated text goes: add them, then {remedy}.")
    atomic_write_text(readme, content[:start + len(markers[0])] + text + content[end:])
