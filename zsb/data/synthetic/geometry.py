"""The geometry of the synthetic shapes: a shape is a list of parts in normalised coordinates (x to the right, y
downwards, about [-1, 1]), built from arcs, ellipses, polygons, Bezier curves and their mirror images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROLES = ("body", "accent", "detail", "hole", "line")


@dataclass(frozen=True)
class Part:
    """One piece of a shape.

    points: (N, 2) polyline in normalised coordinates.
    closed: the polyline is a closed outline (filled in photos) rather than an open line.
    role: how a photo paints it -- "body" (main colour), "accent" (second colour), "detail" (dark or light third
        colour), "hole" (cut out of the object, the background shows through) or "line" (a stroke of ``width``
        in the accent colour). Sketches draw every role as an outline stroke.
    width: stroke thickness of a "line" part in photos, in normalised units.
    """

    points: np.ndarray
    closed: bool = True
    role: str = "body"
    width: float = 0.0

def arc(cx, cy, rx, ry, start=0.0, end=2 * np.pi, n=40) -> np.ndarray:
    t = np.linspace(start, end, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)

def ellipse(cx, cy, rx, ry, n=40) -> np.ndarray:
    return arc(cx, cy, rx, ry, 0.0, 2 * np.pi, n)[:-1]

def poly(*points) -> np.ndarray:
    return np.asarray(points, dtype=float)

def rect(x0, y0, x1, y1) -> np.ndarray:
    return poly((x0, y0), (x1, y0), (x1, y1), (x0, y1))

def bezier(p0, p1, p2, p3, n=20) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3

def join(*segments: np.ndarray) -> np.ndarray:
    """Concatenate polyline segments, dropping a point that repeats the previous segment's last point."""
    out = [segments[0]]
    for seg in segments[1:]:
        out.append(seg[1:] if np.allclose(seg[0], out[-1][-1]) else seg)
    return np.concatenate(out)

def mirrored(right_side: np.ndarray) -> np.ndarray:
    """A left-right symmetric closed outline from its right half, listed top to bottom."""
    left = right_side[::-1] * np.array([-1.0, 1.0])
    return join(right_side, left)

def leaf(base, tip, fatness: float, n=10) -> np.ndarray:
    """A closed lens (leaf) outline from ``base`` to ``tip``; ``fatness`` = half-width / length (about 0.25-0.4)."""
    base, tip = np.asarray(base, dtype=float), np.asarray(tip, dtype=float)
    mid = (base + tip) / 2
    normal = np.array([base[1] - tip[1], tip[0] - base[0]]) * fatness
    one_side = bezier(base, mid + normal, mid + normal, tip, n)
    other_side = bezier(tip, mid - normal, mid - normal, base, n)
    return join(one_side, other_side)[:-1]

def rotated(points: np.ndarray, angle: float, centre=(0.0, 0.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    centre = np.asarray(centre, dtype=float)
    return (points - centre) @ np.array([[c, s], [-s, c]]) + centre
