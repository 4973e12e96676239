"""The two domains of sketch-based retrieval, encoded as integers in every tensor and manifest."""

SKETCH = 0
PHOTO = 1
DOMAIN_NAMES = ("sketch", "photo")
