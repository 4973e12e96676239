"""Domain-balanced batches: every batch holds the same number of sketches and photos of each of its classes.

The domain-balanced quadruplet loss (paper, Sec. 3.2) mines positives and negatives across and within domains,
so each batch must contain, for each of its classes, sketches *and* photos. This sampler draws P classes per batch
and K sketches plus K photos of each.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from zsb.domains import PHOTO, SKETCH
from zsb.errors import ConfigError


class DomainBalancedBatchSampler(Sampler[list[int]]):
    """Batches of P distinct classes x (K sketches + K photos), for ``DataLoader(dataset, batch_sampler=...)``.

    Args:
        labels: class label of each dataset item (sequence or tensor of ints), e.g. ``ImageDataset.labels``.
        domains: domain of each item, ``zsb.domains.SKETCH`` (0) or ``PHOTO`` (1), e.g. ``ImageDataset.domains``.
        classes_per_batch: P, distinct classes in each batch. A batch has 2 * P * K items.
        samples_per_domain: K, items of each domain drawn for each class in the batch.
        seed: random seed; together with the epoch (:meth:`set_epoch`) it fixes the batches exactly. Default 0.
        batches_per_epoch: batches per epoch; None (default) uses (number of items) // (2 * P * K), at least 1,
            so that an epoch draws about as many items as the dataset has.

    Sampling: classes are visited in a random order, reshuffled whenever all have been visited, so they are drawn
    about equally often whatever their size. Within a class and domain, items are drawn from a shuffled list,
    reshuffled when exhausted: every item is used once before any is reused. So an epoch of a dataset whose
    classes all hold n items per domain uses every item exactly once when P divides the number of classes and K
    divides n. A batch never repeats a class, nor an item, except that a class with fewer than K items in a domain
    repeats them to fill its K places (sampling with replacement). Classes with items in only one domain cannot
    form a balanced batch and are left out with a warning. Each batch lists, class by class, K sketch indices then
    K photo indices.
    """

    def __init__(
        self,
        labels: Sequence[int] | torch.Tensor,
        domains: Sequence[int] | torch.Tensor,
        classes_per_batch: int,
        samples_per_domain: int,
        seed: int = 0,
        batches_per_epoch: int | None = None,
    ):
        labels = torch.as_tensor(labels).tolist()
        domains = torch.as_tensor(domains).tolist()
        if len(labels) != len(domains):
            raise ConfigError(f"labels ({len(labels)}) and domains ({len(domains)}) must have the same length")
        _check_positive("classes_per_batch", classes_per_batch)
        _check_positive("samples_per_domain", samples_per_domain)
        if batches_per_epoch is not None:
            _check_positive("batches_per_epoch", batches_per_epoch)
        unknown = sorted(set(domains) - {SKETCH, PHOTO})
        if unknown:
            raise ConfigError(f"domains must be {SKETCH} (sketch) or {PHOTO} (photo), found {unknown}")
        items: dict[int, tuple[list[int], list[int]]] = {}  # label -> (sketch indices, photo indices)
        for index, (label, domain) in enumerate(zip(labels, domains)):
            items.setdefault(label, ([], []))[domain].append(index)  # SKETCH == 0, PHOTO == 1
        one_domain = sorted(label for label, (sketches, photos) in items.items() if not sketches or not photos)
        if one_domain:
            warnings.warn(
                f"classes {one_domain} have items in only one domain and are left out of the balanced batches",
                stacklevel=2,
            )
        self._items = {label: pair for label, pair in sorted(items.items()) if label not in one_domain}
        if len(self._items) < classes_per_batch:
            raise ConfigError(
                f"classes_per_batch={classes_per_batch} but only {len(self._items)} classes have both sketches and "
                "photos; lower classes_per_batch"
            )
        self.classes_per_batch = classes_per_batch
        self.samples_per_domain = samples_per_domain
        self.seed = seed
        num_items = sum(len(sketches) + len(photos) for sketches, photos in self._items.values())
        self.batches_per_epoch = batches_per_epoch or max(1, num_items // (2 * classes_per_batch * samples_per_domain))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches :meth:`__iter__` yields (a different, reproducible draw per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        classes = list(self._items)
        class_queue: deque[int] = deque()
        domains = (SKETCH, PHOTO)
        item_queues: dict[tuple[int, int], deque[int]] = {(label, d): deque() for label in classes for d in domains}

        def draw(queue: deque[int], population: list[int], count: int) -> list[int]:
            """Next ``count`` items of a shuffled cycle through ``population``; no repeats if it is large enough."""
            drawn: list[int] = []
            while len(drawn) < count:
                if not queue:
                    fresh = [population[i] for i in rng.permutation(len(population))]
                    if len(population) >= count:  # items already in this draw go to the back of the new cycle
                        taken = set(drawn)
                        fresh = [x for x in fresh if x not in taken] + [x for x in fresh if x in taken]
                    queue.extend(fresh)
                drawn.append(queue.popleft())
            return drawn

        for _ in range(self.batches_per_epoch):
            batch = []
            for label in draw(class_queue, classes, self.classes_per_batch):
                for domain in domains:
                    batch += draw(item_queues[(label, domain)], self._items[label][domain], self.samples_per_domain)
            yield batch


class SeededBatches(Sampler[list[tuple[int, int, bool]]]):
    """The batches of a :class:`DomainBalancedBatchSampler` with a seed for each item's random augmentation:
    items ``(index, draw_seed, load)`` for :class:`zsb.data.datasets.ImageDataset`.

    The seeds are drawn in the main process from (the sampler's seed, the epoch), batch by batch, so an item's
    crop and flip depend only on the run's seed and the item's place in the epoch: the same for any number of
    DataLoader workers (each worker would otherwise draw from its own RNG stream) and for any number of training
    processes. In data-parallel training (``rank`` of ``world_size``) every item keeps its place and its seed in
    the global batch, but only this process's share (:func:`rank_share`) has ``load`` True: the others are not
    decoded here, and :func:`collate_loaded` leaves them out of the images (their labels and domains stay).
    """

    def __init__(self, batches: DomainBalancedBatchSampler, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not one of the {world_size} processes")
        self.batches = batches
        self.rank = rank
        self.world_size = world_size
        self._domain = {i: d for (sketches, photos) in batches._items.values()
                        for d, indices in ((SKETCH, sketches), (PHOTO, photos)) for i in indices}

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[tuple[int, int, bool]]]:
        rng = np.random.default_rng([self.batches.seed, self.batches.epoch, 1])  # not the batches' own stream
        for batch in self.batches:
            seeds = rng.integers(0, 2**63 - 1, size=len(batch)).tolist()
            mine = set(rank_share([self._domain[i] for i in batch], self.rank, self.world_size))
            yield [(index, seed, position in mine) for position, (index, seed) in enumerate(zip(batch, seeds))]


def collate_loaded(items: list[tuple]) -> tuple[torch.Tensor, ...]:
    """Collate ``(image or None, label, domain, index)`` items: the images of the loaded items (batch order) and
    the labels, domains and indices of all of them."""
    images = torch.stack([item[0] for item in items if item[0] is not None])
    labels, domains, indices = (torch.tensor([item[k] for item in items]) for k in (1, 2, 3))
    return images, labels, domains, indices


def rank_share(domains: Sequence[int], rank: int, world_size: int) -> list[int]:
    """The positions of a domain-balanced batch that process ``rank`` of ``world_size`` embeds in data-parallel
    training (:mod:`zsb.distributed`), in batch order: the batch's sketches and its photos are each cut into
    ``world_size`` consecutive runs whose lengths differ by at most one, and the process takes run ``rank`` of both.
    So it holds as many sketches as photos (give or take one) and, a batch being listed class by class, the sketches
    and photos of the same classes. The shares of all processes make up the batch, each position once."""
    share: list[int] = []
    for domain in (SKETCH, PHOTO):
        positions = [i for i, d in enumerate(domains) if d == domain]
        size, extra = divmod(len(positions), world_size)
        start = rank * size + min(rank, extra)
        share += positions[start : start + size + (rank < extra)]
    return sorted(share)


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
