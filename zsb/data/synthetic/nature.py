"""Shape families of natural things and signs: each function draws one random member of its class as a list of
parts."""

from __future__ import annotations

import numpy as np

from zsb.data.synthetic.geometry import Part, arc, bezier, ellipse, join, leaf, poly, rect, rotated


def apple(rng) -> list[Part]:
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    x = np.cos(t) * rng.uniform(0.9, 1.15)
    y = np.sin(t) * rng.uniform(0.85, 1.0)
    top_dip, bottom_dip = rng.uniform(0.15, 0.35), rng.uniform(0.0, 0.12)
    y = y + np.where(y < 0, top_dip, -bottom_dip) * np.exp(-((x / 0.35) ** 2))
    body_top = y[np.argmin(np.abs(t - 1.5 * np.pi))]
    stem_top = (rng.uniform(0.0, 0.2), body_top - rng.uniform(0.3, 0.45))
    parts = [
        Part(np.stack([x, y], 1)),
        Part(bezier((0, body_top + 0.05), (0, body_top - 0.15), stem_top, stem_top, 8), closed=False, role="line",
             width=0.06),
    ]
    if rng.random() < 0.7:
        tip = np.array(stem_top) + (rng.uniform(0.35, 0.55), rng.uniform(-0.25, 0.05))
        parts.append(Part(leaf(stem_top, tip, rng.uniform(0.25, 0.4), 12), role="accent"))
    return parts

def arrow(rng) -> list[Part]:
    head_len, head_half = rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.5)
    if rng.random() < 0.5:
        t = rng.uniform(0.1, 0.2)
        return [Part(poly((-1, -t), (1 - head_len, -t), (1 - head_len, -head_half), (1, 0), (1 - head_len, head_half),
                           (1 - head_len, t), (-1, t)))]
    parts = [
        Part(poly((-1, 0), (0.97, 0)), closed=False, role="line", width=0.07),
        Part(poly((1 - head_len, -head_half), (1, 0), (1 - head_len, head_half)), closed=False, role="line",
             width=0.08),
    ]
    if rng.random() < 0.6:
        feather = rng.uniform(0.2, 0.35)
        for x in (-1.0, -0.85):
            parts.append(Part(poly((x - feather * 0.6, -feather), (x, 0), (x - feather * 0.6, feather)),
                              closed=False, role="line", width=0.05))
    return parts

def cloud(rng) -> list[Part]:
    bumps = int(rng.integers(5, 9))
    amplitude = rng.uniform(0.12, 0.22)
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False) + rng.uniform(0, np.pi)
    r = 1 + amplitude * np.abs(np.sin(bumps * t / 2))
    x, y = r * np.cos(t), r * np.sin(t) * rng.uniform(0.45, 0.65)
    y = np.where(y > 0, y * rng.uniform(0.3, 0.6), y)
    return [Part(np.stack([x, y], 1))]

def cross(rng) -> list[Part]:
    a = rng.uniform(0.13, 0.28)
    top, side = rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8)
    bottom = top if rng.random() < 0.4 else rng.uniform(1.0, 1.3)
    cy = rng.uniform(-0.1, 0.0)
    return [Part(poly((-a, cy - top), (a, cy - top), (a, cy - a), (side, cy - a), (side, cy + a), (a, cy + a),
                       (a, cy + bottom), (-a, cy + bottom), (-a, cy + a), (-side, cy + a), (-side, cy - a),
                       (-a, cy - a)))]

def fish(rng) -> list[Part]:
    h = rng.uniform(0.3, 0.55)
    joint = rng.uniform(0.45, 0.6)
    upper = bezier((-1, 0), (-0.7, -h * 1.3), (0.1, -h * rng.uniform(1.0, 1.4)), (joint, 0), 20)
    lower = bezier((joint, 0), (0.1, h * rng.uniform(1.0, 1.4)), (-0.7, h * 1.3), (-1, 0), 20)
    tail_h = rng.uniform(0.3, 0.55)
    notch = rng.uniform(0.8, 0.92)
    tail = poly((joint - 0.1, 0), (1, -tail_h), (notch, 0), (1, tail_h))
    parts = [Part(tail, role="accent")]
    if rng.random() < 0.6:
        x = rng.uniform(-0.3, 0.0)
        parts.append(Part(poly((x - 0.2, -h * 0.8), (x + 0.1, -h * 1.45), (x + 0.3, -h * 0.85)), role="accent"))
    parts.append(Part(join(upper, lower)[:-1]))
    parts.append(Part(ellipse(-0.65, -h * 0.2, 0.07, 0.07, 14), role="detail"))
    if rng.random() < 0.5:
        parts.append(Part(arc(-0.75, 0, 0.3, h * 0.7, -0.35 * np.pi, 0.35 * np.pi, 12), closed=False, role="line",
                          width=0.03))
    return parts

def flower(rng) -> list[Part]:
    petals = int(rng.integers(5, 9))
    centre = np.array([0.0, -0.4])
    core = rng.uniform(0.12, 0.2)
    length, half_width = rng.uniform(0.3, 0.45), rng.uniform(0.1, 0.17)
    phase = rng.uniform(0, 2 * np.pi)
    stem = bezier(centre, (rng.uniform(-0.3, 0.3), 0.2), (0, 0.6), (rng.uniform(-0.2, 0.2), 1.0), 16)
    parts = [Part(stem, closed=False, role="line", width=0.06)]
    if rng.random() < 0.7:  # a leaf growing out of the stem
        base = stem[int(rng.integers(9, 14))]
        side = rng.choice([-1.0, 1.0])
        tip = base + (side * rng.uniform(0.3, 0.45), -rng.uniform(0.1, 0.3))
        parts.append(Part(leaf(base, tip, rng.uniform(0.25, 0.4)), role="accent"))
    for k in range(petals):
        angle = phase + 2 * np.pi * k / petals
        petal = ellipse(core + length / 2, 0, length / 2 + 0.05, half_width, 20)
        parts.append(Part(rotated(petal, angle) + centre))
    parts.append(Part(ellipse(*centre, core, core, 24), role="detail"))
    return parts

def heart(rng) -> list[Part]:
    t = np.linspace(0, 2 * np.pi, 80, endpoint=False)
    x = 16 * np.sin(t) ** 3 * rng.uniform(0.85, 1.15)
    y = -(rng.uniform(11, 14) * np.cos(t) - rng.uniform(3.5, 6) * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [Part(np.stack([x, y], 1) / 16)]

def lightning(rng) -> list[Part]:
    pts = poly((-0.05, -1), (0.5, -1), (0.15, -0.2), (0.5, -0.2), (-0.3, 1), (-0.05, 0.1), (-0.45, 0.1))
    pts = pts + rng.uniform(-0.08, 0.08, pts.shape)
    return [Part(pts * (rng.uniform(0.8, 1.2), 1.0))]

def moon(rng) -> list[Part]:
    offset, inner = rng.uniform(0.35, 0.65), rng.uniform(0.8, 1.0)
    x = (1 - inner**2 + offset**2) / (2 * offset)
    y = np.sqrt(max(1 - x**2, 1e-6))
    a_outer = np.arctan2(y, x)
    a_inner = np.arctan2(y, x - offset)
    outer = arc(0, 0, 1, 1, a_outer, 2 * np.pi - a_outer, 40)
    inner_arc = arc(offset, 0, inner, inner, 2 * np.pi - a_inner, a_inner, 40)
    return [Part(join(outer, inner_arc)[:-1])]

def mushroom(rng) -> list[Part]:
    cap_half, cap_h = rng.uniform(0.75, 1.0), rng.uniform(0.45, 0.8)
    rim = rng.uniform(-0.05, 0.15)
    stem_half = rng.uniform(0.15, 0.3)
    cap = join(arc(0, rim, cap_half, cap_h, np.pi, 2 * np.pi, 30),
                bezier((cap_half, rim), (cap_half * 0.5, rim + 0.15), (-cap_half * 0.5, rim + 0.15), (-cap_half, rim)))
    stem = join(poly((-stem_half, rim + 0.05), (stem_half, rim + 0.05)),
                 bezier((stem_half, rim + 0.05), (stem_half * 1.1, 0.6), (stem_half * 1.4, 0.9), (0, 1), 12),
                 bezier((0, 1), (-stem_half * 1.4, 0.9), (-stem_half * 1.1, 0.6), (-stem_half, rim + 0.05), 12))
    parts = [Part(stem[:-1], role="accent"), Part(cap[:-1])]
    for _ in range(int(rng.integers(0, 5))):
        a = rng.uniform(1.15 * np.pi, 1.85 * np.pi)
        r = rng.uniform(0.3, 0.75)
        s = rng.uniform(0.06, 0.12)
        parts.append(Part(ellipse(cap_half * r * np.cos(a), rim + cap_h * r * np.sin(a), s, s * 0.8, 14),
                          role="detail"))
    return parts

def star(rng) -> list[Part]:
    points = 5 if rng.random() < 0.8 else 6
    inner = rng.uniform(0.35, 0.55)
    angles = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner) * rng.uniform(0.9, 1.1, 2 * points)
    return [Part(np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1))]

def tree(rng) -> list[Part]:
    trunk_half = rng.uniform(0.07, 0.14)
    trunk_top = rng.uniform(0.2, 0.5)
    trunk = Part(rect(-trunk_half, trunk_top - 0.1, trunk_half, 1), role="accent")
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
        parts.append(Part(poly((-w, base), (0, base - tier_h), (w, base))))
    return parts
