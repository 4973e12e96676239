"""The synthetic benchmark's classes: each draws one random object as a list of parts
(:mod:`~zsb.data.synthetic.objects`, :mod:`~zsb.data.synthetic.nature`; their geometry:
:mod:`~zsb.data.synthetic.geometry`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from zsb.data.synthetic import nature, objects
from zsb.data.synthetic.geometry import Part
from zsb.errors import ConfigError

SHAPE_FAMILIES: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "anchor": objects.anchor, "apple": nature.apple, "arrow": nature.arrow, "bell": objects.bell,
    "bicycle": objects.bicycle, "bottle": objects.bottle, "car": objects.car, "cloud": nature.cloud,
    "crown": objects.crown, "cross": nature.cross, "cup": objects.cup, "envelope": objects.envelope,
    "fish": nature.fish, "flower": nature.flower, "guitar": objects.guitar, "hammer": objects.hammer,
    "heart": nature.heart, "hourglass": objects.hourglass, "house": objects.house, "key": objects.key,
    "kite": objects.kite, "ladder": objects.ladder, "lamp": objects.lamp, "lightning": nature.lightning,
    "moon": nature.moon, "mushroom": nature.mushroom, "sailboat": objects.sailboat, "star": nature.star,
    "tree": nature.tree, "umbrella": objects.umbrella,
}
"""Class name -> shape family (a function drawing one random member of the class)."""

SYNTHETIC_CLASSES: tuple[str, ...] = tuple(sorted(SHAPE_FAMILIES))
"""The 30 classes, alphabetical."""

SYNTHETIC_UNSEEN: tuple[str, ...] = ("anchor", "crown", "fish", "hourglass", "ladder", "umbrella")
"""The 6 zero-shot test classes, one of each kind of structure: thick-line curves (anchor), a zigzag polygon with
details (crown), an organic filled outline (fish), a symmetric pinched outline (hourglass), a lattice of lines
(ladder) and a dome over a stick (umbrella). The other 24 classes are seen in training."""


def sample_shape(class_name: str, rng: np.random.Generator) -> list[Part]:
    """One random member of ``class_name``'s shape family, centred and scaled so its larger half-extent is 1."""
    try:
        family = SHAPE_FAMILIES[class_name]
    except KeyError:
        raise ConfigError(
            f"unknown synthetic class {class_name!r}; choose one of: {', '.join(SYNTHETIC_CLASSES)}"
        ) from None
    parts = family(rng)
    every_point = np.concatenate([p.points for p in parts])
    lo, hi = every_point.min(0), every_point.max(0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2
    return [Part((p.points - centre) / half, p.closed, p.role, p.width / half) for p in parts]
