"""Shape families of made things: each function draws one random member of its class as a list of parts."""

from __future__ import annotations

import numpy as np

from zsb.data.synthetic.geometry import Part, arc, bezier, ellipse, join, mirrored, poly, rect


def anchor(rng) -> list[Part]:
    arm_radius = rng.uniform(0.5, 0.75)
    stock = rng.uniform(0.25, 0.5)
    arm_end = rng.uniform(0.1, 0.35)
    arms = arc(0, 0.2, arm_radius, arm_radius * rng.uniform(0.7, 1.0), arm_end, np.pi - arm_end, 30)
    fluke = rng.uniform(0.12, 0.2)
    parts = [
        Part(ellipse(0, -0.88, 0.13, 0.13, 24), role="line", width=0.06),
        Part(poly((0, -0.75), (0, arms[:, 1].max())), closed=False, role="line", width=0.09),
        Part(poly((-stock, -0.52), (stock, -0.52)), closed=False, role="line", width=0.08),
        Part(arms, closed=False, role="line", width=0.09),
    ]
    for end, side in ((arms[0], 1), (arms[-1], -1)):
        tip = end + np.array([side * fluke * 0.6, -fluke * 1.4])
        parts.append(Part(poly(end + (-side * fluke * 0.6, fluke * 0.3), tip, end + (side * fluke, fluke * 0.2))))
    return parts

def bell(rng) -> list[Part]:
    half_bottom, half_top = rng.uniform(0.75, 1.0), rng.uniform(0.3, 0.45)
    waist = rng.uniform(0.35, 0.6)
    right = join(
        arc(0, -0.55, half_top, 0.3, 1.5 * np.pi, 2 * np.pi, 12),
        bezier((half_top, -0.55), (half_top + 0.05, waist * 0.5), (half_bottom * 0.8, 0.3), (half_bottom, 0.55), 16),
    )
    parts = [
        Part(ellipse(0, -0.92, 0.1, 0.08, 16), role="line", width=0.05),
        Part(mirrored(right)),
        Part(rect(-half_bottom - 0.05, 0.5, half_bottom + 0.05, 0.62), role="accent"),
    ]
    if rng.random() < 0.8:
        parts.append(Part(ellipse(rng.uniform(-0.1, 0.1), 0.75, 0.13, 0.13, 20), role="detail"))
    return parts

def bicycle(rng) -> list[Part]:
    radius = rng.uniform(0.3, 0.42)
    rear, front = np.array([-0.62, 0.3]), np.array([0.62, 0.3])
    crank = np.array([rng.uniform(-0.15, 0.05), 0.3])
    seat = np.array([rng.uniform(-0.35, -0.15), rng.uniform(-0.4, -0.2)])
    head = np.array([rng.uniform(0.3, 0.45), seat[1] + rng.uniform(-0.05, 0.05)])
    handle = head + (rng.uniform(-0.1, 0.05), -rng.uniform(0.15, 0.3))
    frame = dict(closed=False, role="line", width=0.05)
    parts = [
        Part(ellipse(*rear, radius, radius, 36), role="line", width=0.07),
        Part(ellipse(*front, radius, radius, 36), role="line", width=0.07),
        Part(poly(rear, crank, head, seat, crank), **frame),
        Part(poly(rear, seat), **frame),
        Part(poly(front, head, handle, handle + (rng.uniform(-0.2, 0.2), 0)), **frame),
        Part(poly(seat + (-0.12, -0.04), seat + (0.1, -0.04)), closed=False, role="line", width=0.08),
    ]
    return parts

def bottle(rng) -> list[Part]:
    half_body, half_neck = rng.uniform(0.3, 0.5), rng.uniform(0.1, 0.17)
    shoulder, neck_bottom = rng.uniform(-0.25, 0.05), rng.uniform(-0.6, -0.45)
    neck_top = -0.8
    right = join(
        poly((half_neck, neck_top), (half_neck, neck_bottom)),
        bezier((half_neck, neck_bottom), (half_neck, shoulder - 0.1), (half_body, neck_bottom + 0.15),
                (half_body, shoulder), 14),
        poly((half_body, shoulder), (half_body, 1)),
    )
    parts = [Part(mirrored(right)), Part(rect(-half_neck * 1.2, -1, half_neck * 1.2, neck_top), role="accent")]
    if rng.random() < 0.6:
        top = rng.uniform(shoulder + 0.15, 0.4)
        parts.append(Part(rect(-half_body, top, half_body, top + rng.uniform(0.3, 0.5)), role="accent"))
    return parts

def car(rng) -> list[Part]:
    height = rng.uniform(0.3, 0.45)
    cabin_h = rng.uniform(0.25, 0.4)
    c0, c1 = rng.uniform(-0.65, -0.35), rng.uniform(0.25, 0.5)
    slant_back, slant_front = rng.uniform(0.05, 0.25), rng.uniform(0.15, 0.35)
    body = poly((-1, 0.2), (-1, 0.2 - height * 0.8), (-0.9, 0.2 - height), (0.8, 0.2 - height),
                 (1, 0.2 - height * 0.5), (1, 0.2))
    top = 0.2 - height
    cabin = poly((c0, top), (c0 + slant_back, top - cabin_h), (c1 - slant_front, top - cabin_h), (c1, top))
    radius = rng.uniform(0.18, 0.25)
    parts = [Part(cabin, role="accent"), Part(body)]
    if rng.random() < 0.7:
        mid = (c0 + c1) / 2 + rng.uniform(-0.05, 0.05)
        inset = 0.06
        parts.append(Part(poly((c0 + slant_back + inset, top - cabin_h + inset), (mid - 0.03, top - cabin_h + inset),
                                (mid - 0.03, top - inset / 2), (c0 + inset * 1.5, top - inset / 2)), role="detail"))
        parts.append(Part(poly((mid + 0.03, top - cabin_h + inset),
                                (c1 - slant_front - inset / 2, top - cabin_h + inset),
                                (c1 - inset, top - inset / 2), (mid + 0.03, top - inset / 2)), role="detail"))
    for x in (-rng.uniform(0.5, 0.65), rng.uniform(0.5, 0.65)):
        parts.append(Part(ellipse(x, 0.2, radius, radius, 28), role="detail"))
        parts.append(Part(ellipse(x, 0.2, radius * 0.4, radius * 0.4, 16), role="accent"))
    return parts

def crown(rng) -> list[Part]:
    peaks = int(rng.integers(3, 6))
    depth = rng.uniform(0.35, 0.75)
    xs = np.linspace(-1, 1, 2 * peaks - 1)
    tips = [(x, (-0.7 if i % 2 == 0 else -0.7 + depth) + rng.uniform(-0.08, 0.08)) for i, x in enumerate(xs)]
    top = poly((-1, 0.3), *tips, (1, 0.3))
    parts = [Part(top), Part(rect(-1.05, 0.25, 1.05, rng.uniform(0.55, 0.75)), role="accent")]
    if rng.random() < 0.6:
        for x, y in tips[::2]:
            parts.append(Part(ellipse(x, y - 0.07, 0.08, 0.08, 14), role="detail"))
    for x in rng.uniform(-0.7, 0.7, int(rng.integers(0, 3))):
        parts.append(Part(ellipse(x, 0.47, 0.09, 0.09, 14), role="detail"))
    return parts

def cup(rng) -> list[Part]:
    half_top, height = rng.uniform(0.45, 0.65), rng.uniform(0.8, 1.2)
    half_bottom = half_top * rng.uniform(0.65, 1.0)
    y0, y1 = -height / 2, height / 2
    body = join(poly((-half_top, y0), (half_top, y0)),
                 bezier((half_top, y0), (half_top, y1), (half_bottom, y1), (0, y1), 12),
                 bezier((0, y1), (-half_bottom, y1), (-half_top, y1), (-half_top, y0), 12))
    handle_r = rng.uniform(0.2, 0.32)
    x_edge = (half_top + half_bottom) / 2
    handle = arc(x_edge - 0.05, rng.uniform(-0.15, 0.05), handle_r, handle_r * rng.uniform(1.0, 1.4),
                  -0.45 * np.pi, 0.45 * np.pi, 20)
    parts = [Part(handle, closed=False, role="line", width=0.08), Part(body[:-1]),
             Part(ellipse(0, y0, half_top, rng.uniform(0.06, 0.12), 30), role="accent")]
    if rng.random() < 0.5:
        parts.insert(0, Part(ellipse(0, y1 + 0.02, half_top * 1.6, 0.1, 30), role="accent"))
    return parts

def envelope(rng) -> list[Part]:
    h = rng.uniform(0.5, 0.7)
    parts = [Part(rect(-1, -h, 1, h))]
    if rng.random() < 0.5:
        parts.append(Part(poly((-1, -h), (1, -h), (0, rng.uniform(-0.1, 0.25))), role="accent"))
    else:
        parts.insert(0, Part(poly((-1, -h), (1, -h), (0, -h - rng.uniform(0.45, 0.7))), role="accent"))
        parts.append(Part(poly((-1, -h), (0, rng.uniform(-0.1, 0.2)), (1, -h)), closed=False, role="line",
                          width=0.03))
    if rng.random() < 0.5:
        meet = rng.uniform(-0.1, 0.2)
        parts.append(Part(poly((-1, h), (-0.15, meet)), closed=False, role="line", width=0.03))
        parts.append(Part(poly((1, h), (0.15, meet)), closed=False, role="line", width=0.03))
    return parts

def guitar(rng) -> list[Part]:
    lower_r = rng.uniform(0.35, 0.45)
    upper_r = lower_r * rng.uniform(0.65, 0.85)
    lower_c = 1 - lower_r
    upper_c = lower_c - lower_r - upper_r * rng.uniform(0.5, 0.8)
    waist = rng.uniform(0.5, 0.8) * upper_r
    ys = np.linspace(upper_c - upper_r, 1, 40)
    half = np.maximum(np.sqrt(np.clip(lower_r**2 - (ys - lower_c) ** 2, 0, None)),
                      np.sqrt(np.clip(upper_r**2 - (ys - upper_c) ** 2, 0, None)))
    half = np.where((ys > upper_c) & (ys < lower_c), np.maximum(half, waist), half)
    body = mirrored(np.stack([half, ys], 1))
    neck_top = rng.uniform(-0.8, -0.7)
    neck = rng.uniform(0.05, 0.08)
    parts = [
        Part(rect(-neck, neck_top, neck, upper_c), role="accent"),
        Part(rect(-neck * 1.8, -1, neck * 1.8, neck_top), role="accent"),
        Part(body),
        Part(ellipse(0, lower_c - lower_r * 0.55, lower_r * 0.35, lower_r * 0.35, 20), role="detail"),
    ]
    if rng.random() < 0.6:
        parts.append(Part(rect(-lower_r * 0.45, lower_c + 0.1, lower_r * 0.45, lower_c + 0.17), role="detail"))
    return parts

def hammer(rng) -> list[Part]:
    half_handle = rng.uniform(0.06, 0.1)
    head_top, head_bottom = -1, -1 + rng.uniform(0.3, 0.45)
    left, right = -rng.uniform(0.4, 0.75), rng.uniform(0.3, 0.55)
    if rng.random() < 0.5:
        head = rect(left, head_top, right, head_bottom)
    else:  # claw hammer: the left side tapers and curls down
        head = join(poly((left * 0.4, head_bottom), (right, head_bottom), (right, head_top), (left * 0.4, head_top)),
                     bezier((left * 0.4, head_top), (left * 0.8, head_top), (left, head_top + 0.1),
                             (left * 1.1, head_bottom + 0.15), 10),
                     bezier((left * 1.1, head_bottom + 0.15), (left * 0.9, head_bottom - 0.05),
                             (left * 0.6, head_bottom - 0.05), (left * 0.4, head_bottom), 10))
    grip = rng.uniform(0.2, 0.5)
    parts = [Part(rect(-half_handle, head_bottom - 0.05, half_handle, 1), role="accent"), Part(head)]
    if rng.random() < 0.5:
        parts.append(Part(rect(-half_handle * 1.3, grip, half_handle * 1.3, 1), role="detail"))
    return parts

def hourglass(rng) -> list[Part]:
    half = rng.uniform(0.4, 0.6)
    neck = rng.uniform(0.04, 0.1)
    bulge = rng.uniform(0.0, 0.2)
    plate = 0.87
    right = join(bezier((half, -plate), (half + bulge, -0.4), (neck * 2, -0.1), (neck, 0), 14),
                  bezier((neck, 0), (neck * 2, 0.1), (half + bulge, 0.4), (half, plate), 14))
    parts = [Part(mirrored(right)),
             Part(rect(-half - 0.15, -1, half + 0.15, -plate), role="accent"),
             Part(rect(-half - 0.15, plate, half + 0.15, 1), role="accent")]
    if rng.random() < 0.7:
        level = rng.uniform(0.3, 0.6)
        parts.append(Part(poly((-half * 0.9, plate), (0, level), (half * 0.9, plate)), role="detail"))
    if rng.random() < 0.5:
        for x in (-half - 0.08, half + 0.08):
            parts.append(Part(poly((x, -plate), (x, plate)), closed=False, role="line", width=0.05))
    return parts

def house(rng) -> list[Part]:
    w, h = rng.uniform(0.55, 0.8), rng.uniform(0.45, 0.7)
    base, roof_h = 1.0, rng.uniform(0.35, 0.7)
    top = base - 2 * h
    overhang = rng.uniform(0.0, 0.15)
    parts = []
    if rng.random() < 0.5:
        cx = rng.uniform(0.25, 0.5) * w * rng.choice([-1.0, 1.0])
        parts.append(Part(rect(cx - 0.08, top - roof_h * 0.85, cx + 0.08, top - roof_h * 0.3), role="detail"))
    parts += [Part(rect(-w, top, w, base)),
              Part(poly((-w - overhang, top), (0, top - roof_h), (w + overhang, top)), role="accent")]
    door_w, door_h = rng.uniform(0.1, 0.18), rng.uniform(0.45, 0.7) * 2 * h
    door_x = rng.uniform(-0.3, 0.3) * w
    parts.append(Part(rect(door_x - door_w, base - door_h, door_x + door_w, base), role="detail"))
    for side in (-1, 1):
        room = side * (w - abs(door_x)) if np.sign(door_x) != side else 0
        if abs(room) > 0.3 and rng.random() < 0.75:
            cx, s = door_x + side * (door_w + abs(room) / 2), rng.uniform(0.08, 0.14)
            cy = top + h * rng.uniform(0.6, 0.9)
            parts.append(Part(rect(cx - s, cy - s, cx + s, cy + s), role="detail"))
    return parts

def key(rng) -> list[Part]:
    bow = rng.uniform(0.25, 0.38)
    shaft = rng.uniform(0.05, 0.09)
    bow_x = -1 + bow
    parts = [Part(rect(bow_x + bow * 0.8, -shaft, 1, shaft)),
             Part(ellipse(bow_x, 0, bow, bow * rng.uniform(0.85, 1.1), 30)),
             Part(ellipse(bow_x, 0, bow * 0.45, bow * 0.45, 20), role="hole")]
    positions = np.sort(rng.uniform(0.45, 0.95, int(rng.integers(2, 4))))
    for x in positions:
        parts.append(Part(rect(x - 0.05, shaft - 0.01, x + 0.05, shaft + rng.uniform(0.12, 0.25))))
    return parts

def kite(rng) -> list[Part]:
    w, cross = rng.uniform(0.4, 0.6), rng.uniform(-0.55, -0.3)
    bottom = rng.uniform(0.3, 0.55)
    top = (0, -1)
    parts = [Part(poly(top, (w, cross), (0, bottom), (-w, cross))),
             Part(poly(top, (0, bottom)), closed=False, role="line", width=0.025),
             Part(poly((-w, cross), (w, cross)), closed=False, role="line", width=0.025)]
    s = np.linspace(0, 1, 24)
    amplitude, waves = rng.uniform(0.08, 0.2), rng.uniform(1.5, 2.5)
    sway = amplitude * np.sin(2 * np.pi * waves * s + rng.uniform(0, np.pi)) * s
    tail = np.stack([sway, bottom + (1 - bottom) * s], 1)
    parts.append(Part(tail, closed=False, role="line", width=0.025))
    for i in rng.choice(np.arange(6, 22), size=int(rng.integers(1, 4)), replace=False):
        x, y = tail[i]
        bow = 0.07
        parts.append(Part(poly((x, y), (x - bow * 1.5, y - bow), (x - bow * 1.5, y + bow)), role="accent"))
        parts.append(Part(poly((x, y), (x + bow * 1.5, y - bow), (x + bow * 1.5, y + bow)), role="accent"))
    return parts

def ladder(rng) -> list[Part]:
    half_bottom = rng.uniform(0.3, 0.45)
    half_top = half_bottom * (rng.uniform(0.6, 0.85) if rng.random() < 0.4 else 1.0)
    rail = dict(closed=False, role="line", width=0.07)
    parts = [Part(poly((-half_top, -1), (-half_bottom, 1)), **rail),
             Part(poly((half_top, -1), (half_bottom, 1)), **rail)]
    rungs = int(rng.integers(3, 7))
    for y in np.linspace(-0.8, 0.8, rungs) + rng.uniform(-0.05, 0.05, rungs):
        half = half_top + (half_bottom - half_top) * (y + 1) / 2
        parts.append(Part(poly((-half, y), (half, y)), closed=False, role="line", width=0.055))
    return parts

def lamp(rng) -> list[Part]:
    shade_top, shade_bottom = rng.uniform(0.25, 0.45), rng.uniform(0.6, 0.95)
    shade_y0, shade_y1 = -1, rng.uniform(-0.35, -0.1)
    base_half = rng.uniform(0.35, 0.6)
    stem = rng.uniform(0.04, 0.08)
    parts = [Part(rect(-stem, shade_y1 - 0.05, stem, 0.85), role="accent"),
             Part(join(poly((-base_half * 0.7, 0.8), (base_half * 0.7, 0.8)),
                        bezier((base_half * 0.7, 0.8), (base_half, 0.82), (base_half, 1), (0, 1), 8),
                        bezier((0, 1), (-base_half, 1), (-base_half, 0.82), (-base_half * 0.7, 0.8), 8))[:-1]),
             Part(poly((-shade_top, shade_y0), (shade_top, shade_y0), (shade_bottom, shade_y1),
                        (-shade_bottom, shade_y1)))]
    if rng.random() < 0.4:
        x = shade_bottom * rng.uniform(0.4, 0.7)
        parts.append(Part(poly((x, shade_y1), (x, shade_y1 + rng.uniform(0.2, 0.35))), closed=False, role="line",
                          width=0.02))
    return parts

def sailboat(rng) -> list[Part]:
    mast_x = rng.uniform(-0.2, 0.15)
    deck, keel = rng.uniform(0.35, 0.5), rng.uniform(0.7, 0.85)
    hull = poly((-1, deck), (1, deck), (rng.uniform(0.5, 0.8), keel), (-rng.uniform(0.5, 0.8), keel))
    boom = deck - rng.uniform(0.08, 0.15)
    parts = [Part(poly((mast_x, deck), (mast_x, -1)), closed=False, role="line", width=0.04),
             Part(poly((mast_x + 0.04, -0.95), (mast_x + 0.04, boom), (mast_x + rng.uniform(0.55, 0.85), boom)),
                  role="accent")]
    if rng.random() < 0.6:
        parts.append(Part(poly((mast_x - 0.04, -0.8), (mast_x - 0.04, boom), (mast_x - rng.uniform(0.4, 0.65), boom)),
                          role="accent"))
    if rng.random() < 0.4:
        parts.append(Part(poly((mast_x, -1), (mast_x - 0.25, -0.93), (mast_x, -0.86)), role="detail"))
    parts.append(Part(hull))
    return parts

def umbrella(rng) -> list[Part]:
    canopy_h = rng.uniform(0.45, 0.75)
    scallops = int(rng.integers(3, 6))
    depth = rng.uniform(0.04, 0.14)
    top = arc(0, 0, 1, canopy_h, np.pi, 2 * np.pi, 30)
    xs = np.linspace(1, -1, scallops + 1)
    edge = [arc((a + b) / 2, 0, abs(a - b) / 2, depth, 0, -np.pi, 10) for a, b in zip(xs[:-1], xs[1:])]
    edge = [e[::-1] if e[0, 0] < e[-1, 0] else e for e in edge]
    canopy = join(top, *edge)[:-1]
    hook_r = rng.uniform(0.1, 0.18)
    shaft_end = rng.uniform(0.75, 0.9)
    parts = [Part(poly((0, -canopy_h - 0.1), (0, shaft_end)), closed=False, role="line", width=0.05), Part(canopy)]
    parts.append(Part(arc(-hook_r, shaft_end, hook_r, hook_r, 0, np.pi, 12), closed=False, role="line", width=0.05))
    if rng.random() < 0.5:
        for x in xs[1:-1]:
            parts.append(Part(poly((0, -canopy_h), (x, -depth)), closed=False, role="line", width=0.02))
    return parts
