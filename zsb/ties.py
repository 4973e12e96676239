"""Expected retrieval metrics over the orders of tied blocks (:mod:`zsb.metrics` derives them in its docstring):
per relevant item, the chance to rank within the top K and the expected precision at it, in closed form with
harmonic numbers and hypergeometric weights."""

from __future__ import annotations

import math

import torch


class TiedHits:
    """Expected metrics over the orders of tied blocks (:mod:`zsb.metrics` derives them), per relevant item
    ("hit") of a chunk: ``start`` and ``size`` of its block (:func:`zsb.metrics._tied_blocks`), ``ahead`` the hits
    ranked in blocks above it, ``count`` the hits in its block; all (chunk, max R) float64. ``alone`` marks hits whose
    block is themselves (their metrics are the untied ones, bit for bit)."""

    def __init__(self, start: torch.Tensor, size: torch.Tensor):
        self.start, self.size, self.alone = start, size, size == 1
        index = torch.arange(start.shape[1], device=start.device).expand_as(start)
        first = torch.ones_like(self.alone)
        first[:, 1:] = start[:, 1:] != start[:, :-1]  # a block's hits are consecutive in rank order
        last = torch.ones_like(self.alone)
        last[:, :-1] = first[:, 1:]
        first_index = torch.where(first, index, 0).cummax(dim=1).values
        last_index = torch.where(last, index, start.shape[1]).flip(1).cummin(dim=1).values.flip(1)
        self.ahead = first_index.to(torch.float64)
        self.count = (last_index - first_index + 1).to(torch.float64)
        self.slope = (self.count - 1) / (size - 1).clamp(min=1)  # (k - 1) / (n - 1): 0 in a block of one

    def in_top(self, ranks: torch.Tensor, top: int) -> torch.Tensor:
        """Per hit, the probability that it ranks within the top ``top``: the share of its block's places there."""
        return torch.where(self.alone, (ranks <= top).to(torch.float64), ((top - self.start) / self.size).clamp(0, 1))

    def precision_in_top(self, top: int) -> torch.Tensor:
        """Per hit, the expected precision at it times its chance to rank within the top ``top``, averaged over its
        block: (1/n) sum_{j=1}^{t} (H + 1 + (j - 1) c) / (s + j) with t of the block's n places in the top,
        c = (k - 1) / (n - 1), in closed form with harmonic numbers."""
        places = (top - self.start).clamp(min=0).minimum(self.size)
        offset = self.ahead + 1 - self.slope * (self.start + 1)
        return (self.slope * places + offset * harmonic_between(self.start, places)) / self.size

    def precision_at_block_end(self, precision_at_hits: torch.Tensor) -> torch.Tensor:
        """Per hit, the precision at the end of its block, (H + k) / (s + n): a tied block as one threshold."""
        return torch.where(self.alone, precision_at_hits, (self.ahead + self.count) / (self.start + self.size))

    def sem_pcyc_at_cut(self, values: torch.Tensor, above: torch.Tensor, top: int) -> None:
        """Overwrite, in ``values``, the sem-pcyc AP of the rows where the cut at ``top`` splits a block of hits:
        there the number of hits in the top, its denominator, is random. With h hits above the block (all in the
        top), B the expected sum of their precisions, and x of the block's k hits among its t places in the top
        (hypergeometric), the expectation is sum_x P(x) (B + F(x)) / (h + x), F(x) being the expected precision sum
        of x hits spread uniformly over t places."""
        cut = (self.start < top) & (self.start + self.size > top)
        rows = cut.any(dim=1).nonzero().flatten()
        if len(rows) == 0:
            return
        hit = cut[rows].to(torch.int64).argmax(dim=1, keepdim=True)  # each row's first hit in the split block

        def at_cut(tensor: torch.Tensor) -> torch.Tensor:
            return tensor[rows].gather(1, hit)

        start, size, ahead, count = at_cut(self.start), at_cut(self.size), at_cut(self.ahead), at_cut(self.count)
        above = above[rows, None]
        places = top - start
        x = torch.arange(int(torch.minimum(count, places).max()) + 1, dtype=torch.float64, device=start.device)
        possible = (x <= count) & (x <= places) & (places - x <= size - count)
        log_p = (log_binomial(count, x) + log_binomial(size - count, places - x) - log_binomial(size, places))
        probability = torch.where(possible, torch.exp(log_p.masked_fill(~possible, 0.0)), 0.0)
        slope = (x - 1) / (places - 1).clamp(min=1)
        harmonic = harmonic_between(start, places)
        spread = x / places * ((ahead + 1) * harmonic - slope * ((start + 1) * harmonic - places))
        values[rows] = (probability * (above + spread) / (ahead + x).clamp(min=1)).sum(dim=1)

SMALL_HARMONIC = [math.fsum(1 / j for j in range(1, n + 1)) for n in range(65)]  # H_0 ... H_64, correctly rounded

def harmonic_between(start: torch.Tensor, places: torch.Tensor) -> torch.Tensor:
    """sum_{j=1}^{places} 1 / (start + j) = H(start + places) - H(start), for float64 tensors of whole numbers,
    within 1e-13 relative: from start 64 on by the asymptotic expansion H(x) = ln x + gamma + 1/(2x) - 1/(12x^2) +
    1/(120x^4) - 1/(252x^6) (next term below 1e-17), its difference formed without cancellation (log1p); below,
    from H(start) in a correctly rounded table. (A difference of two cumulative sums of 1/j loses up to 1e-10
    relative where places << start.)"""
    end = start + places

    def expansion_terms(x: torch.Tensor) -> torch.Tensor:  # H(x) - ln x - gamma
        inverse_square = 1 / (x * x)
        return 0.5 / x - inverse_square * (1 / 12 - inverse_square * (1 / 120 - inverse_square / 252))

    low, high = start.clamp(min=64), end.clamp(min=64)
    far = torch.log1p((high - low) / low) + (expansion_terms(high) - expansion_terms(low))
    table = torch.tensor(SMALL_HARMONIC, dtype=torch.float64, device=start.device)
    end_harmonic = torch.where(end < 64, table.index_select(0, end.clamp(max=64).long().flatten()).view(end.shape),
                               torch.log(high) + 0.5772156649015329 + expansion_terms(high))
    near = end_harmonic - table.index_select(0, start.clamp(max=64).long().flatten()).view(start.shape)
    return torch.where(start >= 64, far, near)

def log_binomial(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """log C(n, k) for 0 <= k <= n (anything elsewhere)."""
    n, k = torch.broadcast_tensors(n, k)
    k = k.clamp(min=0).minimum(n.clamp(min=0))
    return torch.lgamma(n.clamp(min=0) + 1) - torch.lgamma(k + 1) - torch.lgamma(n.clamp(min=0) - k + 1)
