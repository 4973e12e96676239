"""DomainBalancedBatchSampler: balanced batches, epoch coverage, determinism, edge cases."""

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from zsb.data.sampler import DomainBalancedBatchSampler
from zsb.domains import PHOTO, SKETCH
from zsb.errors import ConfigError


def items(per_class):
    """labels, domains for class c with per_class[c] = (number of sketches, number of photos), shuffled order."""
    labels, domains = [], []
    for label, (sketches, photos) in enumerate(per_class):
        labels += [label] * (sketches + photos)
        domains += [SKETCH] * sketches + [PHOTO] * photos
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0)).tolist()
    return [labels[i] for i in order], [domains[i] for i in order]


def test_every_batch_is_p_classes_times_k_sketches_and_k_photos():
    labels, domains = items([(5, 7)] * 8 + [(3, 9)] * 4)
    sampler = DomainBalancedBatchSampler(labels, domains, classes_per_batch=4, samples_per_domain=2, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(labels) // (2 * 4 * 2)
    for batch in batches:
        assert len(batch) == 4 * 2 * 2
        per_class = Counter((labels[i], domains[i]) for i in batch)
        classes = {label for label, _ in per_class}
        assert len(classes) == 4
        assert all(per_class[(label, domain)] == 2 for label in classes for domain in (SKETCH, PHOTO))
        # layout: class by class, K sketches then K photos
        assert [domains[i] for i in batch] == [SKETCH, SKETCH, PHOTO, PHOTO] * 4
        assert len(set(batch)) == len(batch)  # every class has at least K items per domain: no repeats


def test_an_epoch_uses_every_item_once_when_classes_are_balanced():
    labels, domains = items([(4, 4)] * 6)
    sampler = DomainBalancedBatchSampler(labels, domains, classes_per_batch=3, samples_per_domain=2)
    drawn = [index for batch in sampler for index in batch]
    assert sorted(drawn) == list(range(len(labels)))


def test_batches_are_deterministic_per_seed_and_epoch():
    labels, domains = items([(6, 6)] * 10)

    def epoch(seed, number):
        sampler = DomainBalancedBatchSampler(labels, domains, 3, 2, seed=seed)
        sampler.set_epoch(number)
        return list(sampler)

    assert epoch(0, 0) == epoch(0, 0)
    assert epoch(0, 1) == epoch(0, 1)
    assert epoch(0, 0) != epoch(0, 1)
    assert epoch(0, 0) != epoch(1, 0)
    sampler = DomainBalancedBatchSampler(labels, domains, 3, 2, seed=0)
    assert list(sampler) == list(sampler)  # iterating again without set_epoch repeats the epoch


def test_classes_stay_distinct_across_reshuffles():
    labels, domains = items([(2, 2)] * 5)  # 5 classes, 3 per batch: every second batch straddles a reshuffle
    sampler = DomainBalancedBatchSampler(labels, domains, 3, 1, batches_per_epoch=50)
    visits = Counter()
    for batch in sampler:
        classes = [labels[i] for i in batch[::2]]
        assert len(set(classes)) == 3
        visits.update(classes)
    assert max(visits.values()) - min(visits.values()) <= 3  # classes are visited about equally often


def test_small_classes_are_sampled_with_replacement():
    labels, domains = items([(1, 2), (5, 5)])
    sampler = DomainBalancedBatchSampler(labels, domains, 2, 3, batches_per_epoch=4)
    only_sketch = next(i for i, (l, d) in enumerate(zip(labels, domains)) if l == 0 and d == SKETCH)
    photos = {i for i, (l, d) in enumerate(zip(labels, domains)) if l == 0 and d == PHOTO}
    for batch in sampler:
        chosen = [i for i in batch if labels[i] == 0]
        assert chosen[:3] == [only_sketch] * 3
        assert set(chosen[3:]) == photos  # both photos are used before one repeats


def test_classes_with_a_single_domain_are_left_out():
    labels, domains = items([(3, 3), (3, 0), (3, 3), (0, 2)])
    with pytest.warns(UserWarning, match=r"\[1, 3\]"):
        sampler = DomainBalancedBatchSampler(labels, domains, 2, 1)
    assert {labels[i] for batch in sampler for i in batch} == {0, 2}
    with pytest.warns(UserWarning), pytest.raises(ConfigError, match="only 2 classes"):
        DomainBalancedBatchSampler(labels, domains, 3, 1)


@pytest.mark.parametrize("kwargs", [
    {"classes_per_batch": 0}, {"samples_per_domain": -1}, {"batches_per_epoch": 0}, {"classes_per_batch": 2.0},
])
def test_bad_parameters(kwargs):
    labels, domains = items([(2, 2)] * 3)
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        DomainBalancedBatchSampler(labels, domains, **{"classes_per_batch": 2, "samples_per_domain": 1, **kwargs})


def test_bad_domains_or_lengths():
    with pytest.raises(ConfigError, match="found \\[2\\]"):
        DomainBalancedBatchSampler([0, 0, 1], [0, 1, 2], 1, 1)
    with pytest.raises(ConfigError, match="same length"):
        DomainBalancedBatchSampler([0, 0, 1], [0, 1], 1, 1)


def test_works_as_a_dataloader_batch_sampler():
    labels, domains = items([(4, 4)] * 4)
    dataset = TensorDataset(torch.tensor(labels), torch.tensor(domains), torch.arange(len(labels)))
    sampler = DomainBalancedBatchSampler(torch.tensor(labels), torch.tensor(domains), 2, 2, seed=5)
    loaded = [indices.tolist() for _, _, indices in DataLoader(dataset, batch_sampler=sampler)]
    assert loaded == list(sampler)
