"""zsb: reproducible companion to "An efficient framework for zero-shot sketch-based image retrieval"
(Tursun, Denman, Sridharan, Goan, Fookes; Pattern Recognition 126, 2022).

One ImageNet-pretrained CNN is fine-tuned end to end with a domain-balanced quadruplet loss, a semantic
classification loss and a semantic knowledge preservation loss whose targets are class-oriented teacher
predictions prepared once, before training.
"""

__version__ = "0.1.0"


def load_model(dest, device="cpu"):
    """The model of an export folder made by ``zsb export`` (hashes checked): see :func:`zsb.export.load_model`."""
    from zsb.export import load_model as _load_model

    return _load_model(dest, device)
