"""Embeddings of a whole dataset: a trained encoder run over a loader, L2-normalised, with the test-time flip."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from zsb.device import to_input

@torch.no_grad()
def extract_embeddings(
    encode: Callable[[torch.Tensor], torch.Tensor],
    loader: DataLoader,
    device: torch.device,
    progress: bool = True,
    desc: str = "embedding",
    hflip: bool = False,
    both: bool = False,
) -> torch.Tensor | dict[bool, torch.Tensor]:
    """Run ``encode`` over every batch of ``loader`` (in order) and stack the L2-normalised results on CPU.

    With ``hflip`` (test-time flip) each image is also encoded mirrored left to right, and the result is the
    normalised mean of the two normalised embeddings: retrieval then does not depend on which way a sketch faces.
    With ``both`` the result is ``{False: without the flip, True: with it}``, from one pass."""
    chunks: dict[bool, list[torch.Tensor]] = {False: [], True: []}
    for images, *_ in tqdm(loader, desc=desc, ascii=True, disable=not progress, leave=False):
        images = to_input(images, device)
        plain = F.normalize(encode(images).float(), dim=1)
        chunks[False].append(F.normalize(plain, dim=1).cpu())
        if hflip or both:
            mirrored = F.normalize(encode(images.flip(3)).float(), dim=1)
            chunks[True].append(F.normalize(plain + mirrored, dim=1).cpu())
    stacked = {flip: torch.cat(parts) for flip, parts in chunks.items() if parts}
    return stacked if both else stacked[hflip]
