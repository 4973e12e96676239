"""Shape families of the synthetic benchmark: each class draws one random object as a list of parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from zsb.errors import ConfigError

# --------------------------------------------------------------------------------------------------------------
# Geometry: a shape is a list of parts in normalised coordinates (x to the right, y downwards, about [-1, 1]).
# --------------------------------------------------------------------------------------------------------------

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


def _arc(cx, cy, rx, ry, start=0.0, end=2 * np.pi, n=40) -> np.ndarray:
    t = np.linspace(start, end, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _ellipse(cx, cy, rx, ry, n=40) -> np.ndarray:
    return _arc(cx, cy, rx, ry, 0.0, 2 * np.pi, n)[:-1]


def _poly(*points) -> np.ndarray:
    return np.asarray(points, dtype=float)


def _rect(x0, y0, x1, y1) -> np.ndarray:
    return _poly((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _bezier(p0, p1, p2, p3, n=20) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def _join(*segments: np.ndarray) -> np.ndarray:
    """Concatenate polyline segments, dropping a point that repeats the previous segment's last point."""
    out = [segments[0]]
    for seg in segments[1:]:
        out.append(seg[1:] if np.allclose(seg[0], out[-1][-1]) else seg)
    return np.concatenate(out)


def _mirrored(right_side: np.ndarray) -> np.ndarray:
    """A left-right symmetric closed outline from its right half, listed top to bottom."""
    left = right_side[::-1] * np.array([-1.0, 1.0])
    return _join(right_side, left)


def _leaf(base, tip, fatness: float, n=10) -> np.ndarray:
    """A closed lens (leaf) outline from ``base`` to ``tip``; ``fatness`` = half-width / length (about 0.25-0.4)."""
    base, tip = np.asarray(base, dtype=float), np.asarray(tip, dtype=float)
    mid = (base + tip) / 2
    normal = np.array([base[1] - tip[1], tip[0] - base[0]]) * fatness
    one_side = _bezier(base, mid + normal, mid + normal, tip, n)
    other_side = _bezier(tip, mid - normal, mid - normal, base, n)
    return _join(one_side, other_side)[:-1]


def _rotated(points: np.ndarray, angle: float, centre=(0.0, 0.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    centre = np.asarray(centre, dtype=float)
    return (points - centre) @ np.array([[c, s], [-s, c]]) + centre


# --------------------------------------------------------------------------------------------------------------
# Shape families. Each draws one random member of its class; `rng` is a numpy Generator.
# --------------------------------------------------------------------------------------------------------------


def _anchor(rng) -> list[Part]:
    arm_radius = rng.uniform(0.5, 0.75)
    stock = rng.uniform(0.25, 0.5)
    arm_end = rng.uniform(0.1, 0.35)
    arms = _arc(0, 0.2, arm_radius, arm_radius * rng.uniform(0.7, 1.0), arm_end, np.pi - arm_end, 30)
    fluke = rng.uniform(0.12, 0.2)
    parts = [
        Part(_ellipse(0, -0.88, 0.13, 0.13, 24), role="line", width=0.06),
        Part(_poly((0, -0.75), (0, arms[:, 1].max())), closed=False, role="line", width=0.09),
        Part(_poly((-stock, -0.52), (stock, -0.52)), closed=False, role="line", width=0.08),
        Part(arms, closed=False, role="line", width=0.09),
    ]
    for end, side in ((arms[0], 1), (arms[-1], -1)):
        tip = end + np.array([side * fluke * 0.6, -fluke * 1.4])
        parts.append(Part(_poly(end + (-side * fluke * 0.6, fluke * 0.3), tip, end + (side * fluke, fluke * 0.2))))
    return parts


def _apple(rng) -> list[Part]:
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    x = np.cos(t) * rng.uniform(0.9, 1.15)
    y = np.sin(t) * rng.uniform(0.85, 1.0)
    top_dip, bottom_dip = rng.uniform(0.15, 0.35), rng.uniform(0.0, 0.12)
    y = y + np.where(y < 0, top_dip, -bottom_dip) * np.exp(-((x / 0.35) ** 2))
    body_top = y[np.argmin(np.abs(t - 1.5 * np.pi))]
    stem_top = (rng.uniform(0.0, 0.2), body_top - rng.uniform(0.3, 0.45))
    parts = [
        Part(np.stack([x, y], 1)),
        Part(_bezier((0, body_top + 0.05), (0, body_top - 0.15), stem_top, stem_top, 8), closed=False, role="line",
             width=0.06),
    ]
    if rng.random() < 0.7:
        tip = np.array(stem_top) + (rng.uniform(0.35, 0.55), rng.uniform(-0.25, 0.05))
        parts.append(Part(_leaf(stem_top, tip, rng.uniform(0.25, 0.4), 12), role="accent"))
    return parts


def _arrow(rng) -> list[Part]:
    head_len, head_half = rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.5)
    if rng.random() < 0.5:
        t = rng.uniform(0.1, 0.2)
        return [Part(_poly((-1, -t), (1 - head_len, -t), (1 - head_len, -head_half), (1, 0), (1 - head_len, head_half),
                           (1 - head_len, t), (-1, t)))]
    parts = [
        Part(_poly((-1, 0), (0.97, 0)), closed=False, role="line", width=0.07),
        Part(_poly((1 - head_len, -head_half), (1, 0), (1 - head_len, head_half)), closed=False, role="line",
             width=0.08),
    ]
    if rng.random() < 0.6:
        feather = rng.uniform(0.2, 0.35)
        for x in (-1.0, -0.85):
            parts.append(Part(_poly((x - feather * 0.6, -feather), (x, 0), (x - feather * 0.6, feather)),
                              closed=False, role="line", width=0.05))
    return parts


def _bell(rng) -> list[Part]:
    half_bottom, half_top = rng.uniform(0.75, 1.0), rng.uniform(0.3, 0.45)
    waist = rng.uniform(0.35, 0.6)
    right = _join(
        _arc(0, -0.55, half_top, 0.3, 1.5 * np.pi, 2 * np.pi, 12),
        _bezier((half_top, -0.55), (half_top + 0.05, waist * 0.5), (half_bottom * 0.8, 0.3), (half_bottom, 0.55), 16),
    )
    parts = [
        Part(_ellipse(0, -0.92, 0.1, 0.08, 16), role="line", width=0.05),
        Part(_mirrored(right)),
        Part(_rect(-half_bottom - 0.05, 0.5, half_bottom + 0.05, 0.62), role="accent"),
    ]
    if rng.random() < 0.8:
        parts.append(Part(_ellipse(rng.uniform(-0.1, 0.1), 0.75, 0.13, 0.13, 20), role="detail"))
    return parts


def _bicycle(rng) -> list[Part]:
    radius = rng.uniform(0.3, 0.42)
    rear, front = np.array([-0.62, 0.3]), np.array([0.62, 0.3])
    crank = np.array([rng.uniform(-0.15, 0.05), 0.3])
    seat = np.array([rng.uniform(-0.35, -0.15), rng.uniform(-0.4, -0.2)])
    head = np.array([rng.uniform(0.3, 0.45), seat[1] + rng.uniform(-0.05, 0.05)])
    handle = head + (rng.uniform(-0.1, 0.05), -rng.uniform(0.15, 0.3))
    frame = dict(closed=False, role="line", width=0.05)
    parts = [
        Part(_ellipse(*rear, radius, radius, 36), role="line", width=0.07),
        Part(_ellipse(*front, radius, radius, 36), role="line", width=0.07),
        Part(_poly(rear, crank, head, seat, crank), **frame),
        Part(_poly(rear, seat), **frame),
        Part(_poly(front, head, handle, handle + (rng.uniform(-0.2, 0.2), 0)), **frame),
        Part(_poly(seat + (-0.12, -0.04), seat + (0.1, -0.04)), closed=False, role="line", width=0.08),
    ]
    return parts


def _bottle(rng) -> list[Part]:
    half_body, half_neck = rng.uniform(0.3, 0.5), rng.uniform(0.1, 0.17)
    shoulder, neck_bottom = rng.uniform(-0.25, 0.05), rng.uniform(-0.6, -0.45)
    neck_top = -0.8
    right = _join(
        _poly((half_neck, neck_top), (half_neck, neck_bottom)),
        _bezier((half_neck, neck_bottom), (half_neck, shoulder - 0.1), (half_body, neck_bottom + 0.15),
                (half_body, shoulder), 14),
        _poly((half_body, shoulder), (half_body, 1)),
    )
    parts = [Part(_mirrored(right)), Part(_rect(-half_neck * 1.2, -1, half_neck * 1.2, neck_top), role="accent")]
    if rng.random() < 0.6:
        top = rng.uniform(shoulder + 0.15, 0.4)
        parts.append(Part(_rect(-half_body, top, half_body, top + rng.uniform(0.3, 0.5)), role="accent"))
    return parts


def _car(rng) -> list[Part]:
    height = rng.uniform(0.3, 0.45)
    cabin_h = rng.uniform(0.25, 0.4)
    c0, c1 = rng.uniform(-0.65, -0.35), rng.uniform(0.25, 0.5)
    slant_back, slant_front = rng.uniform(0.05, 0.25), rng.uniform(0.15, 0.35)
    body = _poly((-1, 0.2), (-1, 0.2 - height * 0.8), (-0.9, 0.2 - height), (0.8, 0.2 - height),
                 (1, 0.2 - height * 0.5), (1, 0.2))
    top = 0.2 - height
    cabin = _poly((c0, top), (c0 + slant_back, top - cabin_h), (c1 - slant_front, top - cabin_h), (c1, top))
    radius = rng.uniform(0.18, 0.25)
    parts = [Part(cabin, role="accent"), Part(body)]
    if rng.random() < 0.7:
        mid = (c0 + c1) / 2 + rng.uniform(-0.05, 0.05)
        inset = 0.06
        parts.append(Part(_poly((c0 + slant_back + inset, top - cabin_h + inset), (mid - 0.03, top - cabin_h + inset),
                                (mid - 0.03, top - inset / 2), (c0 + inset * 1.5, top - inset / 2)), role="detail"))
        parts.append(Part(_poly((mid + 0.03, top - cabin_h + inset),
                                (c1 - slant_front - inset / 2, top - cabin_h + inset),
                                (c1 - inset, top - inset / 2), (mid + 0.03, top - inset / 2)), role="detail"))
    for x in (-rng.uniform(0.5, 0.65), rng.uniform(0.5, 0.65)):
        parts.append(Part(_ellipse(x, 0.2, radius, radius, 28), role="detail"))
        parts.append(Part(_ellipse(x, 0.2, radius * 0.4, radius * 0.4, 16), role="accent"))
    return parts


def _cloud(rng) -> list[Part]:
    bumps = int(rng.integers(5, 9))
    amplitude = rng.uniform(0.12, 0.22)
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False) + rng.uniform(0, np.pi)
    r = 1 + amplitude * np.abs(np.sin(bumps * t / 2))
    x, y = r * np.cos(t), r * np.sin(t) * rng.uniform(0.45, 0.65)
    y = np.where(y > 0, y * rng.uniform(0.3, 0.6), y)
    return [Part(np.stack([x, y], 1))]


def _crown(rng) -> list[Part]:
    peaks = int(rng.integers(3, 6))
    depth = rng.uniform(0.35, 0.75)
    xs = np.linspace(-1, 1, 2 * peaks - 1)
    tips = [(x, (-0.7 if i % 2 == 0 else -0.7 + depth) + rng.uniform(-0.08, 0.08)) for i, x in enumerate(xs)]
    top = _poly((-1, 0.3), *tips, (1, 0.3))
    parts = [Part(top), Part(_rect(-1.05, 0.25, 1.05, rng.uniform(0.55, 0.75)), role="accent")]
    if rng.random() < 0.6:
        for x, y in tips[::2]:
            parts.append(Part(_ellipse(x, y - 0.07, 0.08, 0.08, 14), role="detail"))
    for x in rng.uniform(-0.7, 0.7, int(rng.integers(0, 3))):
        parts.append(Part(_ellipse(x, 0.47, 0.09, 0.09, 14), role="detail"))
    return parts


def _cross(rng) -> list[Part]:
    a = rng.uniform(0.13, 0.28)
    top, side = rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8)
    bottom = top if rng.random() < 0.4 else rng.uniform(1.0, 1.3)
    cy = rng.uniform(-0.1, 0.0)
    return [Part(_poly((-a, cy - top), (a, cy - top), (a, cy - a), (side, cy - a), (side, cy + a), (a, cy + a),
                       (a, cy + bottom), (-a, cy + bottom), (-a, cy + a), (-side, cy + a), (-side, cy - a),
                       (-a, cy - a)))]


def _cup(rng) -> list[Part]:
    half_top, height = rng.uniform(0.45, 0.65), rng.uniform(0.8, 1.2)
    half_bottom = half_top * rng.uniform(0.65, 1.0)
    y0, y1 = -height / 2, height / 2
    body = _join(_poly((-half_top, y0), (half_top, y0)),
                 _bezier((half_top, y0), (half_top, y1), (half_bottom, y1), (0, y1), 12),
                 _bezier((0, y1), (-half_bottom, y1), (-half_top, y1), (-half_top, y0), 12))
    handle_r = rng.uniform(0.2, 0.32)
    x_edge = (half_top + half_bottom) / 2
    handle = _arc(x_edge - 0.05, rng.uniform(-0.15, 0.05), handle_r, handle_r * rng.uniform(1.0, 1.4),
                  -0.45 * np.pi, 0.45 * np.pi, 20)
    parts = [Part(handle, closed=False, role="line", width=0.08), Part(body[:-1]),
             Part(_ellipse(0, y0, half_top, rng.uniform(0.06, 0.12), 30), role="accent")]
    if rng.random() < 0.5:
        parts.insert(0, Part(_ellipse(0, y1 + 0.02, half_top * 1.6, 0.1, 30), role="accent"))
    return parts


def _envelope(rng) -> list[Part]:
    h = rng.uniform(0.5, 0.7)
    parts = [Part(_rect(-1, -h, 1, h))]
    if rng.random() < 0.5:
        parts.append(Part(_poly((-1, -h), (1, -h), (0, rng.uniform(-0.1, 0.25))), role="accent"))
    else:
        parts.insert(0, Part(_poly((-1, -h), (1, -h), (0, -h - rng.uniform(0.45, 0.7))), role="accent"))
        parts.append(Part(_poly((-1, -h), (0, rng.uniform(-0.1, 0.2)), (1, -h)), closed=False, role="line",
                          width=0.03))
    if rng.random() < 0.5:
        meet = rng.uniform(-0.1, 0.2)
        parts.append(Part(_poly((-1, h), (-0.15, meet)), closed=False, role="line", width=0.03))
        parts.append(Part(_poly((1, h), (0.15, meet)), closed=False, role="line", width=0.03))
    return parts


def _fish(rng) -> list[Part]:
    h = rng.uniform(0.3, 0.55)
    joint = rng.uniform(0.45, 0.6)
    upper = _bezier((-1, 0), (-0.7, -h * 1.3), (0.1, -h * rng.uniform(1.0, 1.4)), (joint, 0), 20)
    lower = _bezier((joint, 0), (0.1, h * rng.uniform(1.0, 1.4)), (-0.7, h * 1.3), (-1, 0), 20)
    tail_h = rng.uniform(0.3, 0.55)
    notch = rng.uniform(0.8, 0.92)
    tail = _poly((joint - 0.1, 0), (1, -tail_h), (notch, 0), (1, tail_h))
    parts = [Part(tail, role="accent")]
    if rng.random() < 0.6:
        x = rng.uniform(-0.3, 0.0)
        parts.append(Part(_poly((x - 0.2, -h * 0.8), (x + 0.1, -h * 1.45), (x + 0.3, -h * 0.85)), role="accent"))
    parts.append(Part(_join(upper, lower)[:-1]))
    parts.append(Part(_ellipse(-0.65, -h * 0.2, 0.07, 0.07, 14), role="detail"))
    if rng.random() < 0.5:
        parts.append(Part(_arc(-0.75, 0, 0.3, h * 0.7, -0.35 * np.pi, 0.35 * np.pi, 12), closed=False, role="line",
                          width=0.03))
    return parts


def _flower(rng) -> list[Part]:
    petals = int(rng.integers(5, 9))
    centre = np.array([0.0, -0.4])
    core = rng.uniform(0.12, 0.2)
    length, half_width = rng.uniform(0.3, 0.45), rng.uniform(0.1, 0.17)
    phase = rng.uniform(0, 2 * np.pi)
    stem = _bezier(centre, (rng.uniform(-0.3, 0.3), 0.2), (0, 0.6), (rng.uniform(-0.2, 0.2), 1.0), 16)
    parts = [Part(stem, closed=False, role="line", width=0.06)]
    if rng.random() < 0.7:  # a leaf growing out of the stem
        base = stem[int(rng.integers(9, 14))]
        side = rng.choice([-1.0, 1.0])
        tip = base + (side * rng.uniform(0.3, 0.45), -rng.uniform(0.1, 0.3))
        parts.append(Part(_leaf(base, tip, rng.uniform(0.25, 0.4)), role="accent"))
    for k in range(petals):
        angle = phase + 2 * np.pi * k / petals
        petal = _ellipse(core + length / 2, 0, length / 2 + 0.05, half_width, 20)
        parts.append(Part(_rotated(petal, angle) + centre))
    parts.append(Part(_ellipse(*centre, core, core, 24), role="detail"))
    return parts


def _guitar(rng) -> list[Part]:
    lower_r = rng.uniform(0.35, 0.45)
    upper_r = lower_r * rng.uniform(0.65, 0.85)
    lower_c = 1 - lower_r
    upper_c = lower_c - lower_r - upper_r * rng.uniform(0.5, 0.8)
    waist = rng.uniform(0.5, 0.8) * upper_r
    ys = np.linspace(upper_c - upper_r, 1, 40)
    half = np.maximum(np.sqrt(np.clip(lower_r**2 - (ys - lower_c) ** 2, 0, None)),
                      np.sqrt(np.clip(upper_r**2 - (ys - upper_c) ** 2, 0, None)))
    half = np.where((ys > upper_c) & (ys < lower_c), np.maximum(half, waist), half)
    body = _mirrored(np.stack([half, ys], 1))
    neck_top = rng.uniform(-0.8, -0.7)
    neck = rng.uniform(0.05, 0.08)
    parts = [
        Part(_rect(-neck, neck_top, neck, upper_c), role="accent"),
        Part(_rect(-neck * 1.8, -1, neck * 1.8, neck_top), role="accent"),
        Part(body),
        Part(_ellipse(0, lower_c - lower_r * 0.55, lower_r * 0.35, lower_r * 0.35, 20), role="detail"),
    ]
    if rng.random() < 0.6:
        parts.append(Part(_rect(-lower_r * 0.45, lower_c + 0.1, lower_r * 0.45, lower_c + 0.17), role="detail"))
    return parts


def _hammer(rng) -> list[Part]:
    half_handle = rng.uniform(0.06, 0.1)
    head_top, head_bottom = -1, -1 + rng.uniform(0.3, 0.45)
    left, right = -rng.uniform(0.4, 0.75), rng.uniform(0.3, 0.55)
    if rng.random() < 0.5:
        head = _rect(left, head_top, right, head_bottom)
    else:  # claw hammer: the left side tapers and curls down
        head = _join(_poly((left * 0.4, head_bottom), (right, head_bottom), (right, head_top), (left * 0.4, head_top)),
                     _bezier((left * 0.4, head_top), (left * 0.8, head_top), (left, head_top + 0.1),
                             (left * 1.1, head_bottom + 0.15), 10),
                     _bezier((left * 1.1, head_bottom + 0.15), (left * 0.9, head_bottom - 0.05),
                             (left * 0.6, head_bottom - 0.05), (left * 0.4, head_bottom), 10))
    grip = rng.uniform(0.2, 0.5)
    parts = [Part(_rect(-half_handle, head_bottom - 0.05, half_handle, 1), role="accent"), Part(head)]
    if rng.random() < 0.5:
        parts.append(Part(_rect(-half_handle * 1.3, grip, half_handle * 1.3, 1), role="detail"))
    return parts


def _heart(rng) -> list[Part]:
    t = np.linspace(0, 2 * np.pi, 80, endpoint=False)
    x = 16 * np.sin(t) ** 3 * rng.uniform(0.85, 1.15)
    y = -(rng.uniform(11, 14) * np.cos(t) - rng.uniform(3.5, 6) * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [Part(np.stack([x, y], 1) / 16)]


def _hourglass(rng) -> list[Part]:
    half = rng.uniform(0.4, 0.6)
    neck = rng.uniform(0.04, 0.1)
    bulge = rng.uniform(0.0, 0.2)
    plate = 0.87
    right = _join(_bezier((half, -plate), (half + bulge, -0.4), (neck * 2, -0.1), (neck, 0), 14),
                  _bezier((neck, 0), (neck * 2, 0.1), (half + bulge, 0.4), (half, plate), 14))
    parts = [Part(_mirrored(right)),
             Part(_rect(-half - 0.15, -1, half + 0.15, -plate), role="accent"),
             Part(_rect(-half - 0.15, plate, half + 0.15, 1), role="accent")]
    if rng.random() < 0.7:
        level = rng.uniform(0.3, 0.6)
        parts.append(Part(_poly((-half * 0.9, plate), (0, level), (half * 0.9, plate)), role="detail"))
    if rng.random() < 0.5:
        for x in (-half - 0.08, half + 0.08):
            parts.append(Part(_poly((x, -plate), (x, plate)), closed=False, role="line", width=0.05))
    return parts


def _house(rng) -> list[Part]:
    w, h = rng.uniform(0.55, 0.8), rng.uniform(0.45, 0.7)
    base, roof_h = 1.0, rng.uniform(0.35, 0.7)
    top = base - 2 * h
    overhang = rng.uniform(0.0, 0.15)
    parts = []
    if rng.random() < 0.5:
        cx = rng.uniform(0.25, 0.5) * w * rng.choice([-1.0, 1.0])
        parts.append(Part(_rect(cx - 0.08, top - roof_h * 0.85, cx + 0.08, top - roof_h * 0.3), role="detail"))
    parts += [Part(_rect(-w, top, w, base)),
              Part(_poly((-w - overhang, top), (0, top - roof_h), (w + overhang, top)), role="accent")]
    door_w, door_h = rng.uniform(0.1, 0.18), rng.uniform(0.45, 0.7) * 2 * h
    door_x = rng.uniform(-0.3, 0.3) * w
    parts.append(Part(_rect(door_x - door_w, base - door_h, door_x + door_w, base), role="detail"))
    for side in (-1, 1):
        room = side * (w - abs(door_x)) if np.sign(door_x) != side else 0
        if abs(room) > 0.3 and rng.random() < 0.75:
            cx, s = door_x + side * (door_w + abs(room) / 2), rng.uniform(0.08, 0.14)
            cy = top + h * rng.uniform(0.6, 0.9)
            parts.append(Part(_rect(cx - s, cy - s, cx + s, cy + s), role="detail"))
    return parts


def _key(rng) -> list[Part]:
    bow = rng.uniform(0.25, 0.38)
    shaft = rng.uniform(0.05, 0.09)
    bow_x = -1 + bow
    parts = [Part(_rect(bow_x + bow * 0.8, -shaft, 1, shaft)),
             Part(_ellipse(bow_x, 0, bow, bow * rng.uniform(0.85, 1.1), 30)),
             Part(_ellipse(bow_x, 0, bow * 0.45, bow * 0.45, 20), role="hole")]
    positions = np.sort(rng.uniform(0.45, 0.95, int(rng.integers(2, 4))))
    for x in positions:
        parts.append(Part(_rect(x - 0.05, shaft - 0.01, x + 0.05, shaft + rng.uniform(0.12, 0.25))))
    return parts


def _kite(rng) -> list[Part]:
    w, cross = rng.uniform(0.4, 0.6), rng.uniform(-0.55, -0.3)
    bottom = rng.uniform(0.3, 0.55)
    top = (0, -1)
    parts = [Part(_poly(top, (w, cross), (0, bottom), (-w, cross))),
             Part(_poly(top, (0, bottom)), closed=False, role="line", width=0.025),
             Part(_poly((-w, cross), (w, cross)), closed=False, role="line", width=0.025)]
    s = np.linspace(0, 1, 24)
    amplitude, waves = rng.uniform(0.08, 0.2), rng.uniform(1.5, 2.5)
    sway = amplitude * np.sin(2 * np.pi * waves * s + rng.uniform(0, np.pi)) * s
    tail = np.stack([sway, bottom + (1 - bottom) * s], 1)
    parts.append(Part(tail, closed=False, role="line", width=0.025))
    for i in rng.choice(np.arange(6, 22), size=int(rng.integers(1, 4)), replace=False):
        x, y = tail[i]
        bow = 0.07
        parts.append(Part(_poly((x, y), (x - bow * 1.5, y - bow), (x - bow * 1.5, y + bow)), role="accent"))
        parts.append(Part(_poly((x, y), (x + bow * 1.5, y - bow), (x + bow * 1.5, y + bow)), role="accent"))
    return parts


def _ladder(rng) -> list[Part]:
    half_bottom = rng.uniform(0.3, 0.45)
    half_top = half_bottom * (rng.uniform(0.6, 0.85) if rng.random() < 0.4 else 1.0)
    rail = dict(closed=False, role="line", width=0.07)
    parts = [Part(_poly((-half_top, -1), (-half_bottom, 1)), **rail),
             Part(_poly((half_top, -1), (half_bottom, 1)), **rail)]
    rungs = int(rng.integers(3, 7))
    for y in np.linspace(-0.8, 0.8, rungs) + rng.uniform(-0.05, 0.05, rungs):
        half = half_top + (half_bottom - half_top) * (y + 1) / 2
        parts.append(Part(_poly((-half, y), (half, y)), closed=False, role="line", width=0.055))
    return parts


def _lamp(rng) -> list[Part]:
    shade_top, shade_bottom = rng.uniform(0.25, 0.45), rng.uniform(0.6, 0.95)
    shade_y0, shade_y1 = -1, rng.uniform(-0.35, -0.1)
    base_half = rng.uniform(0.35, 0.6)
    stem = rng.uniform(0.04, 0.08)
    parts = [Part(_rect(-stem, shade_y1 - 0.05, stem, 0.85), role="accent"),
             Part(_join(_poly((-base_half * 0.7, 0.8), (base_half * 0.7, 0.8)),
                        _bezier((base_half * 0.7, 0.8), (base_half, 0.82), (base_half, 1), (0, 1), 8),
                        _bezier((0, 1), (-base_half, 1), (-base_half, 0.82), (-base_half * 0.7, 0.8), 8))[:-1]),
             Part(_poly((-shade_top, shade_y0), (shade_top, shade_y0), (shade_bottom, shade_y1),
                        (-shade_bottom, shade_y1)))]
    if rng.random() < 0.4:
        x = shade_bottom * rng.uniform(0.4, 0.7)
        parts.append(Part(_poly((x, shade_y1), (x, shade_y1 + rng.uniform(0.2, 0.35))), closed=False, role="line",
                          width=0.02))
    return parts


def _lightning(rng) -> list[Part]:
    pts = _poly((-0.05, -1), (0.5, -1), (0.15, -0.2), (0.5, -0.2), (-0.3, 1), (-0.05, 0.1), (-0.45, 0.1))
    pts = pts + rng.uniform(-0.08, 0.08, pts.shape)
    return [Part(pts * (rng.uniform(0.8, 1.2), 1.0))]


def _moon(rng) -> list[Part]:
    offset, inner = rng.uniform(0.35, 0.65), rng.uniform(0.8, 1.0)
    x = (1 - inner**2 + offset**2) / (2 * offset)
    y = np.sqrt(max(1 - x**2, 1e-6))
    a_outer = np.arctan2(y, x)
    a_inner = np.arctan2(y, x - offset)
    outer = _arc(0, 0, 1, 1, a_outer, 2 * np.pi - a_outer, 40)
    inner_arc = _arc(offset, 0, inner, inner, 2 * np.pi - a_inner, a_inner, 40)
    return [Part(_join(outer, inner_arc)[:-1])]


def _mushroom(rng) -> list[Part]:
    cap_half, cap_h = rng.uniform(0.75, 1.0), rng.uniform(0.45, 0.8)
    rim = rng.uniform(-0.05, 0.15)
    stem_half = rng.uniform(0.15, 0.3)
    cap = _join(_arc(0, rim, cap_half, cap_h, np.pi, 2 * np.pi, 30),
                _bezier((cap_half, rim), (cap_half * 0.5, rim + 0.15), (-cap_half * 0.5, rim + 0.15), (-cap_half, rim)))
    stem = _join(_poly((-stem_half, rim + 0.05), (stem_half, rim + 0.05)),
                 _bezier((stem_half, rim + 0.05), (stem_half * 1.1, 0.6), (stem_half * 1.4, 0.9), (0, 1), 12),
                 _bezier((0, 1), (-stem_half * 1.4, 0.9), (-stem_half * 1.1, 0.6), (-stem_half, rim + 0.05), 12))
    parts = [Part(stem[:-1], role="accent"), Part(cap[:-1])]
    for _ in range(int(rng.integers(0, 5))):
        a = rng.uniform(1.15 * np.pi, 1.85 * np.pi)
        r = rng.uniform(0.3, 0.75)
        s = rng.uniform(0.06, 0.12)
        parts.append(Part(_ellipse(cap_half * r * np.cos(a), rim + cap_h * r * np.sin(a), s, s * 0.8, 14),
                          role="detail"))
    return parts


def _sailboat(rng) -> list[Part]:
    mast_x = rng.uniform(-0.2, 0.15)
    deck, keel = rng.uniform(0.35, 0.5), rng.uniform(0.7, 0.85)
    hull = _poly((-1, deck), (1, deck), (rng.uniform(0.5, 0.8), keel), (-rng.uniform(0.5, 0.8), keel))
    boom = deck - rng.uniform(0.08, 0.15)
    parts = [Part(_poly((mast_x, deck), (mast_x, -1)), closed=False, role="line", width=0.04),
             Part(_poly((mast_x + 0.04, -0.95), (mast_x + 0.04, boom), (mast_x + rng.uniform(0.55, 0.85), boom)),
                  role="accent")]
    if rng.random() < 0.6:
        parts.append(Part(_poly((mast_x - 0.04, -0.8), (mast_x - 0.04, boom), (mast_x - rng.uniform(0.4, 0.65), boom)),
                          role="accent"))
    if rng.random() < 0.4:
        parts.append(Part(_poly((mast_x, -1), (mast_x - 0.25, -0.93), (mast_x, -0.86)), role="detail"))
    parts.append(Part(hull))
    return parts


def _star(rng) -> list[Part]:
    points = 5 if rng.random() < 0.8 else 6
    inner = rng.uniform(0.35, 0.55)
    angles = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner) * rng.uniform(0.9, 1.1, 2 * points)
    return [Part(np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1))]


def _tree(rng) -> list[Part]:
    trunk_half = rng.uniform(0.07, 0.14)
    trunk_top = rng.uniform(0.2, 0.5)
    trunk = Part(_rect(-trunk_half, trunk_top - 0.1, trunk_half, 1), role="accent")
    if rng.random() < 0.5:  # broadleaf: a bumpy round crown
        rx, ry = rng.uniform(0.55, 0.85), rng.uniform(0.5, 0.7)
        bumps, amplitude = int(rng.integers(6, 10)), rng.uniform(0.0, 0.1)
        t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
        r = 1 + amplitude * np.abs(np.sin(bumps * t / 2))
        crown = np.stack([rx * r * np.cos(t), trunk_top - ry + ry * r * np.sin(t)], 1)
        return [trunk, Part(crown)]
    tiers = int(rng.integers(2, 4))  # conifer: overlapping triangles, narrower upwards
    half, tier_h = rng.uniform(0.55, 0.8), rng.uniform(0.55, 0.8)
    parts = [trunk]
    for i in range(tiers):
        base = trunk_top - i * tier_h * rng.uniform(0.45, 0.6)
        w = half * (1 - 0.22 * i)
        parts.append(Part(_poly((-w, base), (0, base - tier_h), (w, base))))
    return parts


def _umbrella(rng) -> list[Part]:
    canopy_h = rng.uniform(0.45, 0.75)
    scallops = int(rng.integers(3, 6))
    depth = rng.uniform(0.04, 0.14)
    top = _arc(0, 0, 1, canopy_h, np.pi, 2 * np.pi, 30)
    xs = np.linspace(1, -1, scallops + 1)
    edge = [_arc((a + b) / 2, 0, abs(a - b) / 2, depth, 0, -np.pi, 10) for a, b in zip(xs[:-1], xs[1:])]
    edge = [e[::-1] if e[0, 0] < e[-1, 0] else e for e in edge]
    canopy = _join(top, *edge)[:-1]
    hook_r = rng.uniform(0.1, 0.18)
    shaft_end = rng.uniform(0.75, 0.9)
    parts = [Part(_poly((0, -canopy_h - 0.1), (0, shaft_end)), closed=False, role="line", width=0.05), Part(canopy)]
    parts.append(Part(_arc(-hook_r, shaft_end, hook_r, hook_r, 0, np.pi, 12), closed=False, role="line", width=0.05))
    if rng.random() < 0.5:
        for x in xs[1:-1]:
            parts.append(Part(_poly((0, -canopy_h), (x, -depth)), closed=False, role="line", width=0.02))
    return parts


SHAPE_FAMILIES: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "anchor": _anchor, "apple": _apple, "arrow": _arrow, "bell": _bell, "bicycle": _bicycle, "bottle": _bottle,
    "car": _car, "cloud": _cloud, "crown": _crown, "cross": _cross, "cup": _cup, "envelope": _envelope, "fish": _fish,
    "flower": _flower, "guitar": _guitar, "hammer": _hammer, "heart": _heart, "hourglass": _hourglass,
    "house": _house, "key": _key, "kite": _kite, "ladder": _ladder, "lamp": _lamp, "lightning": _lightning,
    "moon": _moon, "mushroom": _mushroom, "sailboat": _sailboat, "star": _star, "tree": _tree, "umbrella": _umbrella,
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
