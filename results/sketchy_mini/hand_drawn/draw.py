"""A fixed set of hand-drawn queries: one drawing of each of 12 sempcyc25 test classes, drawn once as a person would
with a mouse, stroke by stroke, and rendered as zsb's drawing pad saves a drawing (:func:`zsb.search.render_strokes`:
black ink, 3 px pen, on a white 256 x 256 pad). The strokes were written before any model was trained to search
them and are never tuned to a result. ``benchmarks/hand_drawn_p10.py`` scores a model on them.

    python results/sketchy_mini/hand_drawn/draw.py    # rewrites <class>.png beside this file
"""

from __future__ import annotations

import math
from pathlib import Path

from zsb.search import PAD_LINE_WIDTH, render_strokes


def arc(cx: float, cy: float, rx: float, ry: float, start: float = 0, end: float = 360, points: int = 32) -> list:
    """Points along an elliptic arc, angles in degrees (0: right, 90: down, as on the canvas)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in (start + (end - start) * i / points for i in range(points + 1))]


DRAWINGS = {
    "bell": [
        [(80, 190), (88, 120), (100, 84), (128, 70), (156, 84), (168, 120), (176, 190)],  # the bell's sides
        [(64, 196), (192, 196)],                                                          # its lip
        arc(128, 206, 12, 10, 0, 180, 12),                                                # the clapper
        arc(128, 62, 10, 10, 180, 360, 12),                                               # the loop on top
    ],
    "door": [
        [(80, 230), (80, 40), (176, 40), (176, 230)],   # the frame
        [(92, 220), (92, 52), (164, 52), (164, 220)],   # the door
        arc(150, 140, 6, 6),                            # the knob
        [(100, 70), (156, 70), (156, 120), (100, 120), (100, 70)],    # upper panel
        [(100, 150), (156, 150), (156, 205), (100, 205), (100, 150)],  # lower panel
    ],
    "eyeglasses": [
        arc(80, 130, 38, 28),                           # left lens
        arc(176, 130, 38, 28),                          # right lens
        arc(128, 126, 10, 8, 180, 360, 10),             # bridge
        [(42, 124), (20, 110)],                         # left arm
        [(214, 124), (236, 110)],                       # right arm
    ],
    "guitar": [
        arc(128, 188, 46, 40, -60, 240, 32),            # lower bout
        arc(128, 132, 34, 30, 150, 390, 24),            # upper bout
        arc(128, 170, 12, 12),                          # sound hole
        [(120, 104), (122, 30)], [(136, 104), (134, 30)],  # neck
        [(116, 30), (140, 30), (140, 12), (116, 12), (116, 30)],  # head
        [(112, 206), (144, 206)],                       # bridge
    ],
    "hamburger": [
        arc(128, 110, 80, 50, 180, 360, 24),            # top bun
        [(48, 110), (208, 110)],
        [(46, 124), (60, 132), (76, 122), (92, 132), (108, 122), (124, 132), (140, 122), (156, 132), (172, 122),
         (188, 132), (210, 124)],                       # lettuce
        [(50, 140), (206, 140), (206, 156), (50, 156), (50, 140)],  # patty
        [(50, 166), (206, 166), (200, 186), (56, 186), (50, 166)],  # bottom bun
    ],
    "jack_o_lantern": [
        arc(128, 140, 90, 76),                          # the pumpkin
        [(122, 64), (118, 40), (134, 38), (136, 64)],   # stem
        [(80, 120), (100, 96), (112, 124), (80, 120)],   # left eye
        [(144, 124), (156, 96), (176, 120), (144, 124)],  # right eye
        [(118, 150), (128, 134), (138, 150), (118, 150)],  # nose
        [(72, 166), (96, 186), (112, 172), (128, 190), (144, 172), (160, 186), (184, 166), (160, 200),
         (96, 200), (72, 166)],                         # grin
    ],
    "mushroom": [
        arc(128, 128, 90, 70, 180, 360, 28),            # cap
        [(38, 128), (218, 128)],                        # its rim
        [(108, 128), (104, 210), (152, 210), (148, 128)],  # stem
        arc(96, 96, 10, 8), arc(150, 82, 12, 9), arc(178, 110, 8, 6),  # spots
    ],
    "pear": [
        [(128, 56), (112, 66), (104, 96), (84, 136), (74, 176), (90, 212), (128, 226), (166, 212), (182, 176),
         (172, 136), (152, 96), (144, 66), (128, 56)],  # the fruit
        [(128, 56), (132, 30)],                         # stem
        [(134, 44), (160, 30), (150, 50), (134, 44)],   # leaf
    ],
    "racket": [
        arc(128, 88, 52, 66),                           # the head
        [(112, 152), (120, 230)], [(144, 152), (136, 230)],  # the throat and handle
        [(110, 230), (146, 230)],                       # butt
        [(100, 40), (100, 136)], [(128, 24), (128, 152)], [(156, 40), (156, 136)],  # strings
        [(80, 60), (176, 60)], [(76, 90), (180, 90)], [(80, 120), (176, 120)],
    ],
    "spoon": [
        arc(128, 70, 30, 44),                           # the bowl
        [(120, 112), (116, 226), (140, 226), (136, 112)],  # the handle
    ],
    "teapot": [
        arc(128, 160, 62, 46, -90, 270, 40),            # body
        arc(128, 114, 30, 18, 180, 360, 16),            # lid
        arc(128, 90, 6, 6, 90, 450, 12),                # knob
        [(70, 176), (50, 165), (36, 140), (28, 104)],   # spout, outer edge
        [(72, 142), (56, 134), (46, 120), (42, 106)],   # spout, inner edge
        [(28, 104), (42, 106)],                         # spout, opening
        arc(176, 158, 32, 26, -90, 90, 16),             # handle
    ],
    "wheelchair": [
        arc(110, 176, 48, 48),                          # big wheel
        arc(190, 210, 14, 14),                          # small wheel
        [(80, 60), (86, 140), (170, 140), (190, 196)],  # back and seat to the front wheel
        [(86, 140), (110, 176)],                        # frame to the axle
        [(170, 140), (196, 150)],                       # footrest
        [(70, 60), (90, 60)],                           # push handle
    ],
}
"""Class -> strokes; each stroke is the points the pen passes through while pressed."""


def segments(strokes: list[list[tuple[float, float]]]) -> list[tuple[float, float, float, float]]:
    return [(*a, *b) for stroke in strokes for a, b in zip(stroke, stroke[1:])]


def main() -> None:
    here = Path(__file__).resolve().parent
    for name, strokes in DRAWINGS.items():
        render_strokes(segments(strokes), 256, PAD_LINE_WIDTH).save(here / f"{name}.png")
        print(here / f"{name}.png")


if __name__ == "__main__":
    main()
