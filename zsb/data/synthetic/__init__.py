"""The embedded synthetic benchmark: procedurally drawn sketches and photos of 30 object classes.

It lets ``zsb reproduce`` run the paper's whole zero-shot pipeline offline, in minutes, on a laptop CPU. Every class
is a *shape family*: a function that draws one object (a house, a fish, an anchor, ...) as a list of parts in
normalised coordinates, with random proportions, part sizes and optional parts. One shape becomes an image in one of
two deliberately different domains:

* **sketch** -- black, wobbly, hand-style outline strokes on white: each part's outline is resampled, displaced by
  low-frequency noise, sometimes left open, overshot or partly dropped, sometimes drawn twice; small details are
  sometimes omitted.
* **photo** -- the same parts filled with shaded, coloured, sometimes textured surfaces, at a random pose, scale and
  position, on a cluttered background (colour gradient, ground plane, distractor blobs and lines, noise), with a drop
  shadow, an occasional occluder, slight blur and JPEG compression.

Colours are drawn independently of the class, so a photo's class is told by its shape alone, as a sketch's is.
The tree is written once into a cache folder, in the sketchy layout that :mod:`zsb.data.layouts` reads::

    <root>/sketch/<class>/<index>.png      (8-bit grayscale)
    <root>/photo/<class>/<index>.jpg       (RGB JPEG)
    <root>/synthetic.json                  (generation parameters, classes, counts; written last)

Every image is a pure function of ``(seed, class, domain, index)``, so the tree is byte-identical whoever generates
it and however many worker processes share the work.
"""

from zsb.data.synthetic.cache import (
    FORMAT_VERSION,
    IMAGE_SUFFIX,
    METADATA_FILE,
    ensure_synthetic,
    image_rng,
    is_complete,
    synthetic_root,
)
from zsb.data.synthetic.geometry import ROLES
from zsb.data.synthetic.render import RENDERERS, render_photo, render_sketch
from zsb.data.synthetic.shapes import SYNTHETIC_CLASSES, SYNTHETIC_UNSEEN, sample_shape

__all__ = [
    "FORMAT_VERSION",
    "IMAGE_SUFFIX",
    "METADATA_FILE",
    "RENDERERS",
    "ROLES",
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_UNSEEN",
    "ensure_synthetic",
    "image_rng",
    "is_complete",
    "render_photo",
    "render_sketch",
    "sample_shape",
    "synthetic_root",
]
