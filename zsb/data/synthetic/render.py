"""The two domains of the synthetic benchmark: a shape rendered as a hand-style sketch or a cluttered photo."""

from __future__ import annotations

import colorsys
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from zsb.data.synthetic.geometry import rotated
from zsb.data.synthetic.shapes import sample_shape
from zsb.domains import PHOTO, SKETCH

SUPERSAMPLING = 2
"""Images are drawn at this multiple of the requested size and downsampled with a Lanczos filter (antialiasing)."""


@dataclass(frozen=True)
class Pose:
    """Where a shape lands on the canvas: half-size and centre in pixels, rotation (radians), aspect and mirror."""

    half_size: float
    centre: tuple[float, float]
    angle: float
    aspect: float
    mirrored: bool

    def apply(self, points: np.ndarray) -> np.ndarray:
        p = points * np.array([(-1.0 if self.mirrored else 1.0) * self.aspect, 1.0 / self.aspect])
        return rotated(p, self.angle) * self.half_size + np.asarray(self.centre)


def _random_pose(rng, canvas: int, scale: tuple[float, float], max_angle: float, max_shift: float) -> Pose:
    half = rng.uniform(*scale) * canvas / 2
    room = max(canvas / 2 - half * 1.05, 0.0) * max_shift
    centre = canvas / 2 + rng.uniform(-room, room, 2)
    return Pose(half, (float(centre[0]), float(centre[1])), rng.uniform(-max_angle, max_angle),
                float(np.exp(rng.normal(0, 0.1))), bool(rng.random() < 0.5))


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    lengths = np.hypot(*np.diff(points, axis=0).T)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    if cumulative[-1] < 1e-9:
        return points[:1].repeat(2, axis=0)
    s = np.linspace(0, cumulative[-1], max(2, int(cumulative[-1] / spacing) + 1))
    return np.stack([np.interp(s, cumulative, points[:, 0]), np.interp(s, cumulative, points[:, 1])], 1)


def _wobble(path: np.ndarray, rng, amplitude: float, wavelength: tuple[float, float]) -> np.ndarray:
    """Displace a densely resampled path along its normals by a sum of three random low-frequency sinusoids."""
    tangent = np.gradient(path, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / (np.hypot(*tangent.T)[:, None] + 1e-9)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
    offset = sum(rng.normal(0, amplitude / np.sqrt(3)) * np.sin(2 * np.pi * s / rng.uniform(*wavelength)
                                                                 + rng.uniform(0, 2 * np.pi)) for _ in range(3))
    return path + normal * offset[:, None]


def render_sketch(class_name: str, rng: np.random.Generator, image_size: int = 128) -> Image.Image:
    """Draw one random member of ``class_name`` as a hand-style sketch: an 8-bit grayscale image, dark strokes on white.

    Each part's outline is drawn as one pen stroke: resampled, jittered by low-frequency noise (wobbly lines), with a
    random start point and an overshoot or a gap where a closed outline meets itself. With some probability a small
    detail is omitted, a piece of one stroke is dropped (an incomplete sketch) or a stroke is traced twice.

    The random ranges, in pixels of a 128 px image: the object spans 66-88% of the image, rotated by up to 12 degrees
    and mirrored half of the time; stroke width 1-2.6 px, ink gray level 0-70; wobble amplitude 0.6-1.8 px over
    wavelengths of 25-110 px; closed outlines end 6% short to 8% past their start; 15% of details are omitted, 15% of
    strokes traced twice, and 35% of sketches lose 15-35% of one stroke.
    """
    parts = sample_shape(class_name, rng)
    canvas = image_size * SUPERSAMPLING
    pose = _random_pose(rng, canvas, scale=(0.66, 0.88), max_angle=np.radians(12), max_shift=0.3)
    unit = canvas / 128  # the stroke parameters below are in pixels of a 128 px image
    width = max(SUPERSAMPLING, round(rng.uniform(1.0, 2.6) * unit))  # at least one output pixel
    ink = int(rng.integers(0, 70))
    amplitude = rng.uniform(0.6, 1.8) * unit
    drop_part = int(rng.integers(len(parts))) if rng.random() < 0.35 else -1

    image = Image.new("L", (canvas, canvas), 255)
    draw = ImageDraw.Draw(image)
    for i, part in enumerate(parts):
        if part.role in ("detail", "hole") and rng.random() < 0.15:
            continue
        points = pose.apply(part.points)
        if part.closed:
            points = np.roll(points, -int(rng.integers(len(points))), axis=0)
            points = np.concatenate([points, points[:1]])
        path = _resample(points, spacing=1.5 * unit)
        if part.closed:
            end = int(len(path) * rng.uniform(-0.06, 0.08))
            path = np.concatenate([path, path[1:end + 1]]) if end > 0 else path[:len(path) + end]
        for _ in range(2 if rng.random() < 0.15 else 1):
            stroke = _wobble(path, rng, amplitude, wavelength=(25 * unit, 110 * unit))
            stroke = stroke + rng.normal(0, 0.8 * unit, 2)
            pieces = [stroke]
            if i == drop_part and len(stroke) > 12:
                a = int(rng.integers(len(stroke) // 2))
                b = a + int(len(stroke) * rng.uniform(0.15, 0.35))
                pieces = [stroke[:a], stroke[b:]]
            for piece in pieces:
                if len(piece) >= 2:
                    draw.line([tuple(p) for p in piece], fill=ink, width=width, joint="curve")
    return image.resize((image_size, image_size), Image.LANCZOS)


def _random_colour(rng, saturation=(0.25, 0.95), value=(0.3, 0.95)) -> tuple[int, int, int]:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return tuple(int(round(c * 255)) for c in rgb)


def _smooth_noise(rng, canvas: int, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a random ``cells`` x ``cells`` grid upsampled bicubically to the canvas."""
    grid = rng.integers(0, 256, (cells, cells, channels), dtype=np.uint8)
    mode = "RGB" if channels == 3 else "L"
    image = Image.fromarray(grid.squeeze(-1) if channels == 1 else grid, mode).resize((canvas, canvas), Image.BICUBIC)
    return (np.asarray(image, dtype=np.float32).reshape(canvas, canvas, channels) / 127.5) - 1.0


def _as_array(image: Image.Image) -> np.ndarray:
    """An image as float32 in [0, 1] with a channel axis last."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array if array.ndim == 3 else array[..., None]


def _background(rng, image_size: int, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A cluttered scene: muted colour gradient, optional ground plane, low-frequency colour noise and 3-9
    distractor shapes (ellipses, polygons, lines) of random colour and opacity. ``xx``, ``yy``: pixel coordinates
    of the image divided by its size."""
    muted = dict(saturation=(0.05, 0.6), value=(0.3, 1.0))
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5) + 0.5)[..., None]
    first, second = (np.array(_random_colour(rng, **muted), np.float32) / 255 for _ in range(2))
    image = first * (1 - t) + second * t
    if rng.random() < 0.5:
        horizon = rng.uniform(0.45, 0.8) + rng.uniform(-0.15, 0.15) * (xx - 0.5)
        ground = np.array(_random_colour(rng, **muted), np.float32) / 255 * (0.8 + 0.3 * yy[..., None])
        image = np.where((yy > horizon)[..., None], ground, image)
    image = image + rng.uniform(0.05, 0.2) * _smooth_noise(rng, image_size, int(rng.integers(3, 8)), 3)

    canvas = image_size * SUPERSAMPLING
    scene = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8), "RGB").resize((canvas, canvas),
                                                                                         Image.BILINEAR)
    overlay = Image.new("RGBA", scene.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(int(rng.integers(3, 10))):
        colour = _random_colour(rng, saturation=(0.05, 0.8)) + (int(rng.integers(90, 255)),)
        x, y = rng.uniform(-0.1, 1.1, 2) * canvas
        r = rng.uniform(0.04, 0.25) * canvas
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse([x - r, y - r * rng.uniform(0.4, 1.0), x + r, y + r * rng.uniform(0.4, 1.0)], fill=colour)
        elif kind == 1:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            draw.polygon([(x + r * np.cos(a), y + r * np.sin(a)) for a in angles], fill=colour)
        else:
            x2, y2 = rng.uniform(-0.1, 1.1, 2) * canvas
            draw.line([(x, y), (x2, y2)], fill=colour, width=int(rng.integers(1, 6)) * SUPERSAMPLING)
    scene = Image.alpha_composite(scene.convert("RGBA"), overlay).convert("RGB")
    return _as_array(scene.resize((image_size, image_size), Image.LANCZOS))


def render_photo(class_name: str, rng: np.random.Generator, image_size: int = 128) -> Image.Image:
    """Draw one random member of ``class_name`` as a synthetic photo: an RGB image of a filled, shaded object.

    The object's colours are random (independent of the class); it is shaded by a directional light and a rounded
    edge falloff, sometimes textured (mottled or striped), casts a soft shadow and lies at a random pose, scale and
    position on a cluttered background (:func:`_background`); sometimes a blob occludes part of it. The image gets
    pixel noise, a slight blur and JPEG compression at a random quality. Outlines are drawn at
    :data:`SUPERSAMPLING` times the size; shading is computed at the output size.

    The random ranges: the object spans 40-80% of the image anywhere inside it, rotated by up to 35 degrees and
    mirrored half of the time; its lines are 1.3-2.2 times as thick as the shape family's nominal width; light
    gradient strength 0.8-1.6; 50% plain, 30% mottled, 20% striped surfaces; 60% cast a shadow; 25% are partly
    occluded; pixel noise sigma 0-0.04; blur radius 0-0.7 px; JPEG quality 60-94.
    """
    parts = sample_shape(class_name, rng)
    canvas = image_size * SUPERSAMPLING
    pose = _random_pose(rng, canvas, scale=(0.4, 0.8), max_angle=np.radians(35), max_shift=1.0)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32) / image_size
    background = _background(rng, image_size, xx, yy)

    colours = {"body": _random_colour(rng), "accent": _random_colour(rng), "hole": (0, 0, 0),
               "detail": _random_colour(rng, value=(0.05, 0.3) if rng.random() < 0.6 else (0.8, 1.0))}
    colours["line"] = colours["accent"] if rng.random() < 0.5 else colours["body"]
    thickness = rng.uniform(1.3, 2.2)  # photographed rods, rails and frames are thicker than sketched lines
    surface = Image.new("RGB", (canvas, canvas))  # colour premultiplied by coverage: black outside the object
    silhouette = Image.new("L", (canvas, canvas), 0)
    paint, cut = ImageDraw.Draw(surface), ImageDraw.Draw(silhouette)
    for part in parts:
        xy = [tuple(p) for p in pose.apply(part.points)]
        coverage = 0 if part.role == "hole" else 255
        if part.role == "line":
            width = max(1, round(part.width * thickness * pose.half_size))
            xy = xy + xy[:1] if part.closed else xy
            cut.line(xy, fill=coverage, width=width, joint="curve")
            paint.line(xy, fill=colours["line"], width=width, joint="curve")
        else:
            cut.polygon(xy, fill=coverage)
            paint.polygon(xy, fill=colours[part.role])
    size = (image_size, image_size)
    surface, silhouette = surface.resize(size, Image.LANCZOS), silhouette.resize(size, Image.LANCZOS)

    alpha = _as_array(silhouette)
    edge_falloff = _as_array(silhouette.filter(ImageFilter.GaussianBlur(image_size * 0.03)))
    light = rng.uniform(0, 2 * np.pi)
    directional = np.cos(light) * (xx - pose.centre[0] / canvas) + np.sin(light) * (yy - pose.centre[1] / canvas)
    shading = (1.0 + rng.uniform(0.8, 1.6) * directional[..., None]) * (0.55 + 0.45 * np.sqrt(edge_falloff))
    texture = rng.choice(["plain", "mottled", "stripes"], p=[0.5, 0.3, 0.2])
    if texture == "mottled":
        shading = shading * (1 + 0.25 * _smooth_noise(rng, image_size, int(rng.integers(6, 16)), 1))
    elif texture == "stripes":
        period, direction = rng.uniform(0.03, 0.1), rng.uniform(0, np.pi)
        phase = (np.cos(direction) * xx + np.sin(direction) * yy) / period
        shading = shading * (1 + 0.2 * np.sign(np.sin(2 * np.pi * phase))[..., None])

    if rng.random() < 0.6:
        dx, dy = rng.uniform(-0.04, 0.04, 2) * image_size
        shadow = silhouette.transform(size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy))
        shadow = _as_array(shadow.filter(ImageFilter.GaussianBlur(image_size * 0.02)))
        background = background * (1 - rng.uniform(0.3, 0.6) * shadow)
    image = background * (1 - alpha) + _as_array(surface) * shading
    image = image + rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(0.0, 0.04)
    photo = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8), "RGB")
    if rng.random() < 0.25:
        centre = np.asarray(pose.centre) / SUPERSAMPLING + rng.uniform(-1, 1, 2) * pose.half_size / SUPERSAMPLING
        r = rng.uniform(0.15, 0.35) * pose.half_size / SUPERSAMPLING
        ImageDraw.Draw(photo).ellipse([*(centre - r), *(centre + r)], fill=_random_colour(rng))

    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.7)))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=int(rng.integers(60, 95)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


RENDERERS = {SKETCH: render_sketch, PHOTO: render_photo}
