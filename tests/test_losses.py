"""Losses: every vectorised loss equals a slow plain-Python reference built from explicit tuples."""

import math

import pytest
import torch
import torch.nn.functional as F

from zsb.domains import PHOTO, SKETCH
from zsb.errors import ConfigError
from zsb.losses import (
    CrossDomainTripletLoss,
    DomainBalancedQuadrupletLoss,
    KnowledgePreservationLoss,
    SemanticClassificationLoss,
    pairwise_distances,
)

QUADRUPLET = dict(anchor_domains=(SKETCH, PHOTO), negative_domains=(SKETCH, PHOTO))
TRIPLET = dict(anchor_domains=(SKETCH,), negative_domains=(PHOTO,))


def distance(embeddings, i, j, squared):
    d = math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(embeddings[i], embeddings[j])))
    return d * d if squared else d


def reference_margin_loss(embeddings, labels, domains, margin, mining, squared, anchor_domains, negative_domains):
    """The documented definition, one anchor at a time: hard = farthest positive and closest negative per domain;
    semihard = every positive, per domain the closest negative strictly farther than it, else the closest."""
    labels, domains = labels.tolist(), domains.tolist()
    n = len(labels)
    d = lambda i, j: distance(embeddings, i, j, squared)  # noqa: E731
    total, pairs = 0.0, 0
    for a in range(n):
        if domains[a] not in anchor_domains:
            continue
        positives = [p for p in range(n) if labels[p] == labels[a] and domains[p] != domains[a]]
        if not positives:
            continue
        if mining == "hard":
            farthest = max(d(a, p) for p in positives)
            positives = [next(p for p in positives if d(a, p) == farthest)]
        for p in positives:
            terms = []
            for negative_domain in negative_domains:
                negatives = [d(a, k) for k in range(n) if labels[k] != labels[a] and domains[k] == negative_domain]
                if not negatives:
                    continue
                farther = [x for x in negatives if x > d(a, p)]
                hardest = min(farther) if mining == "semihard" and farther else min(negatives)
                terms.append(max(0.0, margin + d(a, p) - hardest))
            if terms:
                total += sum(terms)
                pairs += 1
    return total / pairs if pairs else 0.0


def loss_over_tuples(embeddings, anchors, positives, negatives, margin, squared):
    """sum of hinge terms over explicit tuples / number of distinct (anchor, positive) pairs."""
    terms = [
        max(0.0, margin + distance(embeddings, a, p, squared) - distance(embeddings, a, k, squared))
        for a, p, k in zip(anchors.tolist(), positives.tolist(), negatives.tolist())
    ]
    pairs = set(zip(anchors.tolist(), positives.tolist()))
    return sum(terms) / len(pairs) if pairs else 0.0


def batch(classes, per_domain, dim=6, seed=0):
    """Normalised float64 embeddings for ``classes`` x (``per_domain`` sketches + ``per_domain`` photos), shuffled."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(2 * per_domain)
    domains = torch.tensor([SKETCH] * per_domain + [PHOTO] * per_domain).repeat(classes)
    order = torch.randperm(len(labels), generator=generator)
    embeddings = F.normalize(torch.randn(len(labels), dim, generator=generator, dtype=torch.float64), dim=1)
    return embeddings, labels[order], domains[order]


def with_duplicates(embeddings, labels, domains):
    """Ties: rows 1 and 2 copy row 0 (whatever their class and domain), row 4 copies row 3."""
    embeddings = embeddings.clone()
    embeddings[1] = embeddings[2] = embeddings[0]
    embeddings[4] = embeddings[3]
    return embeddings, labels, domains


def without_sketches_of_class(embeddings, labels, domains, cls):
    """Drop the sketches of class ``cls``: the other classes' anchors have no sketch negative of that class, and
    with two classes they have no sketch negative at all."""
    keep = ~((labels == cls) & (domains == SKETCH))
    return embeddings[keep], labels[keep], domains[keep]


def only_sketches(embeddings, labels, domains):
    keep = domains == SKETCH
    return embeddings[keep], labels[keep], domains[keep]


CASES = {
    "general": batch(4, 3),
    "ties": with_duplicates(*batch(3, 2, seed=1)),
    "no_sketch_negative": without_sketches_of_class(*batch(2, 3, seed=2), cls=1),
    "one_class": batch(1, 3, seed=3),
    "single_domain": only_sketches(*batch(3, 2, seed=4)),
    "anchor_without_positive": without_sketches_of_class(*batch(3, 2, seed=5), cls=0),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mining", ["hard", "semihard"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("loss_class, roles", [(DomainBalancedQuadrupletLoss, QUADRUPLET), (CrossDomainTripletLoss, TRIPLET)])
def test_margin_losses_match_the_plain_python_definition(case, mining, squared, loss_class, roles):
    embeddings, labels, domains = CASES[case]
    loss = loss_class(margin=0.5, mining=mining, squared=squared)(embeddings, labels, domains)
    expected = reference_margin_loss(embeddings, labels, domains, 0.5, mining, squared, **roles)
    assert loss.item() == pytest.approx(expected, abs=1e-9)


def test_the_reference_cases_exercise_what_they_claim():
    assert reference_margin_loss(*CASES["general"], 0.5, "hard", False, **QUADRUPLET) > 0
    assert reference_margin_loss(*CASES["one_class"], 0.5, "hard", False, **QUADRUPLET) == 0
    assert reference_margin_loss(*CASES["single_domain"], 0.5, "hard", False, **QUADRUPLET) == 0
    embeddings, labels, domains = CASES["no_sketch_negative"]
    anchors, _, negatives = DomainBalancedQuadrupletLoss(mining="hard").mine(embeddings, labels, domains)
    class0 = labels[anchors] == 0
    assert class0.any() and (domains[negatives[class0]] == PHOTO).all()  # only the photo term for class 0


@pytest.mark.parametrize("loss_class, roles", [(DomainBalancedQuadrupletLoss, QUADRUPLET), (CrossDomainTripletLoss, TRIPLET)])
def test_mined_tuples_are_valid_and_give_the_loss(loss_class, roles):
    embeddings, labels, domains = CASES["general"]
    for mining in ("hard", "semihard", "random"):
        loss_fn = loss_class(margin=0.5, mining=mining)
        torch.manual_seed(0)
        anchors, positives, negatives = loss_fn.mine(embeddings, labels, domains)
        assert anchors.numel() > 0
        assert (labels[anchors] == labels[positives]).all() and (domains[anchors] != domains[positives]).all()
        assert (labels[anchors] != labels[negatives]).all()
        assert set(domains[anchors].tolist()) == set(roles["anchor_domains"])
        assert set(domains[negatives].tolist()) == set(roles["negative_domains"])
        torch.manual_seed(0)  # the same random choices again
        loss = loss_fn(embeddings, labels, domains)
        assert loss.item() == pytest.approx(loss_over_tuples(embeddings, anchors, positives, negatives, 0.5, False))


def test_random_mining_lies_between_easiest_and_hardest_choices_and_is_reproducible():
    embeddings, labels, domains = CASES["general"]
    hardest = DomainBalancedQuadrupletLoss(margin=0.5, mining="hard")(embeddings, labels, domains).item()
    easiest = easiest_choice_loss(embeddings, labels, domains, 0.5)
    random_loss = DomainBalancedQuadrupletLoss(margin=0.5, mining="random")
    values = []
    for seed in range(20):
        torch.manual_seed(seed)
        values.append(random_loss(embeddings, labels, domains).item())
    assert all(easiest - 1e-12 <= v <= hardest + 1e-12 for v in values)
    assert len(set(values)) > 1
    torch.manual_seed(3)
    assert random_loss(embeddings, labels, domains).item() == values[3]


def easiest_choice_loss(embeddings, labels, domains, margin):
    """Quadruplet loss with the closest positive and the farthest negatives: a lower bound of any single choice."""
    labels, domains = labels.tolist(), domains.tolist()
    d = lambda i, j: distance(embeddings, i, j, False)  # noqa: E731
    total, pairs = 0.0, 0
    for a in range(len(labels)):
        positives = [d(a, p) for p in range(len(labels)) if labels[p] == labels[a] and domains[p] != domains[a]]
        terms = []
        for negative_domain in (SKETCH, PHOTO):
            negatives = [d(a, k) for k in range(len(labels)) if labels[k] != labels[a] and domains[k] == negative_domain]
            if positives and negatives:
                terms.append(max(0.0, margin + min(positives) - max(negatives)))
        if terms:
            total, pairs = total + sum(terms), pairs + 1
    return total / pairs


def test_random_mining_draws_every_valid_choice():
    embeddings, labels, domains = CASES["general"]
    loss_fn = DomainBalancedQuadrupletLoss(mining="random")
    anchor = 0
    valid_positives = {p for p in range(len(labels)) if labels[p] == labels[anchor] and domains[p] != domains[anchor]}
    valid_negatives = {k for k in range(len(labels)) if labels[k] != labels[anchor]}
    seen_positives, seen_negatives = set(), set()
    torch.manual_seed(0)
    for _ in range(150):
        anchors, positives, negatives = loss_fn.mine(embeddings, labels, domains)
        seen_positives |= set(positives[anchors == anchor].tolist())
        seen_negatives |= set(negatives[anchors == anchor].tolist())
    assert seen_positives == valid_positives and seen_negatives == valid_negatives


@pytest.mark.parametrize("loss_class", [DomainBalancedQuadrupletLoss, CrossDomainTripletLoss])
@pytest.mark.parametrize("mining", ["hard", "semihard"])
def test_margin_losses_have_correct_gradients(loss_class, mining):
    embeddings, labels, domains = batch(3, 2, dim=4, seed=6)
    embeddings = embeddings.clone().requires_grad_(True)
    loss_fn = loss_class(margin=1.0, mining=mining)
    loss_fn(embeddings, labels, domains).backward()
    assert torch.isfinite(embeddings.grad).all() and embeddings.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda e: loss_fn(e, labels, domains), (embeddings.detach().requires_grad_(),))


def test_duplicates_give_finite_gradients():
    embeddings, labels, domains = CASES["ties"]
    embeddings = embeddings.clone().requires_grad_(True)
    for mining in ("hard", "semihard", "random"):
        embeddings.grad = None
        DomainBalancedQuadrupletLoss(margin=1.0, mining=mining)(embeddings, labels, domains).backward()
        assert torch.isfinite(embeddings.grad).all() and embeddings.grad.abs().sum() > 0


@pytest.mark.parametrize("case", ["one_class", "single_domain"])
def test_batches_without_any_term_give_a_zero_that_backpropagates(case):
    embeddings, labels, domains = CASES[case]
    embeddings = embeddings.clone().requires_grad_(True)
    loss = DomainBalancedQuadrupletLoss(mining="hard")(embeddings, labels, domains)
    assert loss.item() == 0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_pairwise_distances_match_cdist():
    embeddings = CASES["general"][0]
    assert torch.allclose(pairwise_distances(embeddings), torch.cdist(embeddings, embeddings), atol=1e-7)
    assert torch.allclose(pairwise_distances(embeddings, squared=True), torch.cdist(embeddings, embeddings) ** 2)


def test_margin_loss_arguments_are_validated():
    with pytest.raises(ConfigError, match="hard, semihard, random"):
        DomainBalancedQuadrupletLoss(mining="hardest")
    with pytest.raises(ConfigError, match="margin"):
        CrossDomainTripletLoss(margin=-0.1)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_semantic_classification_loss_matches_the_definition(label_smoothing):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 1, 2])
    expected = 0.0
    for row, label in zip(logits.tolist(), labels.tolist()):
        log_z = math.log(sum(math.exp(v) for v in row))
        nll = log_z - row[label]
        uniform = sum(log_z - v for v in row) / len(row)
        expected += (1 - label_smoothing) * nll + label_smoothing * uniform
    loss = SemanticClassificationLoss(label_smoothing)(logits, labels)
    assert loss.item() == pytest.approx(expected / len(labels))
    with pytest.raises(ConfigError):
        SemanticClassificationLoss(label_smoothing=1.0)


def reference_knowledge_loss(logits, targets, domains, temperature, kept_domains, scale_by_t2):
    total, count = 0.0, 0
    for row, target, domain in zip(logits.tolist(), targets.tolist(), domains.tolist()):
        if domain not in kept_domains:
            continue
        scaled = [v / temperature for v in row]
        log_z = math.log(sum(math.exp(v) for v in scaled))
        total += sum(q * (math.log(q) if q > 0 else 0.0) - q * (v - log_z) for q, v in zip(target, scaled))
        count += 1
    loss = total / count if count else 0.0
    return loss * temperature**2 if scale_by_t2 else loss


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("domain_names, domain_ids", [(("sketch", "photo"), (0, 1)), (("photo",), (1,)), (("sketch",), (0,))])
@pytest.mark.parametrize("scale_by_t2", [True, False])
def test_knowledge_preservation_loss_matches_the_definition(temperature, domain_names, domain_ids, scale_by_t2):
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 7, generator=generator, dtype=torch.float64)
    targets = torch.softmax(torch.randn(6, 7, generator=generator, dtype=torch.float64), dim=1)
    domains = torch.tensor([0, 1, 1, 0, 1, 1])
    loss = KnowledgePreservationLoss(temperature, domain_names, scale_by_t2)(logits, targets, domains)
    expected = reference_knowledge_loss(logits, targets, domains, temperature, domain_ids, scale_by_t2)
    assert loss.item() == pytest.approx(expected, abs=1e-10)


def test_knowledge_preservation_has_the_gradient_of_kl_divergence():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.softmax(torch.randn(4, 5, generator=generator, dtype=torch.float64), dim=1)
    domains = torch.tensor([0, 1, 0, 1])
    KnowledgePreservationLoss(temperature=2.0)(logits, targets, domains).backward()
    ours = logits.grad.clone()
    logits.grad = None
    kl = F.kl_div(F.log_softmax(logits / 2.0, dim=1), targets, reduction="batchmean") * 4.0
    kl.backward()
    assert torch.allclose(ours, logits.grad) and ours.abs().sum() > 0


def test_knowledge_preservation_is_zero_when_the_student_matches_sparse_knowledge():
    targets = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    logits = torch.log(targets.clamp_min(1e-300))  # softmax(logits) == targets, zeros included
    loss = KnowledgePreservationLoss(temperature=1.0)(logits, targets, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(0.0, abs=1e-12)


def test_knowledge_preservation_without_qualifying_samples_is_a_connected_zero():
    logits = torch.randn(3, 5, requires_grad=True)
    loss = KnowledgePreservationLoss(1.0, domains=("photo",))(logits, torch.full((3, 5), 0.2), torch.zeros(3, dtype=torch.long))
    assert loss.item() == 0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_knowledge_preservation_arguments_are_validated():
    with pytest.raises(ConfigError, match="sketch"):
        KnowledgePreservationLoss(1.0, domains=("drawing",))
    with pytest.raises(ConfigError):
        KnowledgePreservationLoss(1.0, domains=())
    with pytest.raises(ConfigError, match="temperature"):
        KnowledgePreservationLoss(temperature=0.0)
