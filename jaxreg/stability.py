"""Stability selection (Meinshausen and Buhlmann 2010; complementary pairs, Shah and Samworth 2013).

Each subsample is a 0/1 weight mask on the full data, so all subsample paths are members of
one batched, compiled call on one lambda grid (the full data's). The selection probability
of feature j at lambda k is the fraction of subsamples whose path has a non-zero coefficient
j at lambda k. The selection region is the top of the grid, from lambda_max down to the last
lambda at which the subsamples select on average at most ``q`` features anywhere above it
(``q_Lambda`` of the paper); a feature is selected when its largest probability over the
region reaches the threshold. For ``threshold > 1/2`` Meinshausen and Buhlmann bound the
expected number of falsely selected (noise) features by ``q_Lambda^2 / ((2 threshold - 1) p)``
(their Theorem 1, under exchangeability of the noise features).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxreg.families import get_family
from jaxreg.sweep import path_batch

__all__ = ["stability_selection", "StabilityResult"]


@dataclasses.dataclass(frozen=True)
class StabilityResult:
    """lambdas (K,); probabilities (K, p); region: number of grid values (from the top) in
    the selection region; q: average number of features a subsample selects in the region;
    max_probability (p,) over the region; selected: indices with max_probability >=
    threshold; error_bound: bound on the expected number of false selections (NaN when
    threshold <= 1/2); masks (S, n) the subsamples."""

    lambdas: np.ndarray
    probabilities: np.ndarray
    region: int
    q: float
    max_probability: np.ndarray
    selected: np.ndarray
    threshold: float
    error_bound: float
    masks: np.ndarray

    def selected_at(self, threshold: float) -> np.ndarray:
        """Indices of the features selected at another threshold."""
        return np.flatnonzero(self.max_probability >= threshold)


def _subsample_masks(n, n_subsamples, fraction, complementary, rng):
    size = int(np.floor(fraction * n))
    if size < 2 or size > n - (2 if complementary else 0):
        raise ValueError(f"sample_fraction {fraction} gives subsamples of {size} of {n} observations")
    masks = []
    draws = n_subsamples // 2 if complementary else n_subsamples
    for _ in range(draws):
        perm = rng.permutation(n)
        first = np.zeros(n)
        first[perm[:size]] = 1.0
        masks.append(first)
        if complementary:
            second = np.zeros(n)
            second[perm[size : 2 * size]] = 1.0
            masks.append(second)
    return np.stack(masks)


def stability_selection(
    X,
    y,
    *,
    family="gaussian",
    l1_ratio=1.0,
    n_subsamples=100,
    sample_fraction=0.5,
    complementary_pairs=True,
    threshold=0.6,
    max_selected=None,
    lambdas=None,
    n_lambdas=100,
    lambda_min_ratio=None,
    seed=0,
    chunk_size=None,
    n_jobs=None,
    progress=False,
    **path_options,
) -> StabilityResult:
    """Selection probabilities along the path over many subsamples, in one batched call.

    n_subsamples : number of subsample paths (even when ``complementary_pairs``: pairs of
        disjoint halves, Shah and Samworth 2013).
    sample_fraction : fraction of observations in each subsample (1/2 is the standard choice).
    threshold : selection threshold on the largest probability over the selection region.
    max_selected : ``q``, the largest average number of features one subsample may select in
        the selection region (default ``ceil(sqrt(0.8 p))``, the error-control choice of
        Meinshausen and Buhlmann's examples).
    Other keyword arguments go to ``jaxreg.path`` (``penalty_factor``, ``standardize``, ...).
    """
    fam = get_family(family)
    if not isinstance(n_subsamples, (int, np.integer)) or n_subsamples < 2:
        raise ValueError(f"n_subsamples must be an integer >= 2; got {n_subsamples!r}")
    if complementary_pairs and n_subsamples % 2:
        raise ValueError("n_subsamples must be even with complementary_pairs=True")
    if not 0.0 < float(sample_fraction) < 1.0:
        raise ValueError(f"sample_fraction must be in (0, 1); got {sample_fraction!r}")
    if complementary_pairs and float(sample_fraction) > 0.5:
        raise ValueError("complementary pairs need sample_fraction <= 0.5")
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}")
    if "sample_weight" in path_options:
        raise ValueError("stability_selection draws its own subsample weights; sample_weight is not supported")

    full = path_batch(X, y, family=fam, l1_ratio=l1_ratio, lambdas=lambdas, n_lambdas=n_lambdas,
                      lambda_min_ratio=lambda_min_ratio, **path_options)
    grid = full.lambdas[0]
    n = np.asarray(X).shape[0]
    masks = _subsample_masks(n, n_subsamples, float(sample_fraction), complementary_pairs, np.random.default_rng(seed))
    if fam.name == "binomial":
        labels = np.asarray(y) == full[0].classes[1]
        for mask in masks:
            if np.unique(labels[mask > 0]).size < 2:
                raise ValueError("a subsample has only one class; use a larger sample_fraction")
    subs = path_batch(X, y, family=fam, l1_ratio=l1_ratio, sample_weight=masks, lambdas=grid,
                      chunk_size=chunk_size, n_jobs=n_jobs, progress=progress, **path_options)
    nonzero = subs.coef != 0  # (S, K, p)
    probabilities = nonzero.mean(axis=0)
    p = probabilities.shape[1]
    q_max = int(np.ceil(np.sqrt(0.8 * p))) if max_selected is None else int(max_selected)
    if q_max < 1:
        raise ValueError(f"max_selected must be a positive integer; got {max_selected!r}")
    # Average size of the union of selected sets over the top k grid values, k = 1..K.
    ever = np.logical_or.accumulate(nonzero, axis=1)  # (S, K, p)
    q_top = ever.sum(axis=2).mean(axis=0)  # (K,)
    region = max(1, int(np.sum(q_top <= q_max)))
    q = float(q_top[region - 1])
    max_probability = probabilities[:region].max(axis=0)
    bound = q * q / ((2.0 * threshold - 1.0) * p) if threshold > 0.5 else float("nan")
    return StabilityResult(
        lambdas=grid,
        probabilities=probabilities,
        region=region,
        q=q,
        max_probability=max_probability,
        selected=np.flatnonzero(max_probability >= threshold),
        threshold=float(threshold),
        error_bound=float(bound),
        masks=masks,
    )
