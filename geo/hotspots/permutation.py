"""Conditional-randomisation p-values of Gi* (esda's ``p_sim``, GeoDa's default), vectorised.

Under the randomisation null of Gi* the value of cell ``i`` stays where it is and the
``k_i - 1`` other members of its neighbourhood are a random draw, without replacement, from
the other ``n - 1`` values.  The reference law of the neighbourhood sum therefore depends
only on ``(x_i, k_i)``: with the values sorted, leaving out cell ``i`` is leaving out one
copy of ``x_i``.  One matrix ``R`` of random index rows (each row a draw without
replacement from ``0 .. n - 2``, its first ``r`` columns a draw of ``r``) is shared by all
cells, as esda shares its ``rids``; the pool "all values but one copy of ``x_i``" is the
sorted values with that copy swapped for the last one, so a row's sum is the common prefix
sum plus one correction where the row hits that copy.  The work is ``n * permutations``
array operations, not ``n * permutations * k``.

p-values are two-sided: ``min(1, 2 * (min(n_ge, n_le) + 1) / (P + 1))`` with ``n_ge`` /
``n_le`` the simulated sums at least / at most the observed one (ties count as extreme on
both sides, so a cell with nothing around it is not "significantly cold" because most
random draws are empty too).  esda's ``p_sim`` folds the same counts into one side,
``(min(n_ge, P - n_ge) + 1) / (P + 1)``: its lower tail counts only *strictly* smaller
sums.

The floor: with ``P`` permutations no p-value is below ``2 / (P + 1)``, and Benjamini-Hochberg
over ``m`` cells needs ``p <= alpha * k / m`` for ``k`` discoveries: with 999 permutations
and thousands of cells a handful of real hot spots could never reach 99 %.  So cells that no
permutation matched get a second, independent run with enough permutations for the 99 %
level (``2 / (P2 + 1) <= 0.01 * c / (4 m)`` for ``c`` such cells; :func:`permutation_p`,
``refine=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: Permutations of the first run (GeoDa's and esda's default).
PERMUTATIONS = 999
#: Default seed: the same data give the same classes.
SEED = 12345
#: The strictest level the second run must be able to reach (alpha of the 99 % class).
REFINE_ALPHA = 0.01
#: The second run's floor is this many times below the level's cut-off, so that cells with
#: a true p a little above zero (one or two matches) reach it too.
REFINE_MARGIN = 4.0
#: At most this many permutations in the second run (memory and time guard).
MAX_PERMUTATIONS = 4_000_000
#: Random numbers the second run may draw at most (a dense neighbourhood, more than a quarter
#: of all cells, costs a whole shuffle per permutation).
REFINE_WORK = 300_000_000
_CHUNK = 65_536  # permutation rows per block


@dataclass
class PermutationCounts:
    """Simulated sums at least / at most the observed one, and permutations run, per cell."""

    n_ge: np.ndarray
    n_le: np.ndarray
    permutations: np.ndarray

    @property
    def p(self) -> np.ndarray:
        """Two-sided p-values ``min(1, 2 * (min(n_ge, n_le) + 1) / (P + 1))``."""
        tail = np.minimum(self.n_ge, self.n_le)
        return np.minimum(1.0, 2.0 * (tail + 1.0) / (self.permutations + 1.0))

    @property
    def p_sim(self) -> np.ndarray:
        """esda's folded one-sided ``p_sim`` from the same counts."""
        tail = np.minimum(self.n_ge, self.permutations - self.n_ge)
        return (tail + 1.0) / (self.permutations + 1.0)


def draw_rows(rng: np.random.Generator, rows: int, r: int, pool: int) -> np.ndarray:
    """``rows`` x ``r`` indices, each row a draw without replacement from ``0 .. pool - 1``.

    Examples
    --------
    >>> R = draw_rows(np.random.default_rng(0), 1000, 5, 8)
    >>> R.shape, bool((np.diff(np.sort(R, axis=1), axis=1) > 0).all()), int(R.max()) <= 7
    ((1000, 5), True, True)
    """
    if r > pool:
        raise ValueError(f"cannot draw {r} of {pool} without replacement")
    if r == 0:
        return np.zeros((rows, 0), dtype=np.int64)
    if r * r > pool:  # repeats would be common: the r smallest of random keys, shuffled
        keys = rng.random((rows, pool))
        pick = np.argpartition(keys, r - 1, axis=1)[:, :r] if r < pool else np.argsort(keys, 1)
        return rng.permuted(pick, axis=1)
    out = rng.integers(0, pool, size=(rows, r), dtype=np.int32 if pool < 2**31 else np.int64)
    bad = np.arange(rows)
    while bad.size:  # redraw the rows holding a repeated index (rare when r << pool)
        srt = np.sort(out[bad], axis=1)
        bad = bad[(np.diff(srt, axis=1) == 0).any(axis=1)]
        if bad.size:
            out[bad] = rng.integers(0, pool, size=(bad.size, r), dtype=out.dtype)
    return out


def count_extremes(
    values: np.ndarray,
    k: np.ndarray,
    observed: np.ndarray,
    cells: np.ndarray,
    permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_ge``, ``n_le`` of ``permutations`` conditional randomisations for ``cells``.

    ``values``: all ``n`` values; ``k``: neighbourhood size (self included) and ``observed``:
    neighbourhood sum, both for ``cells`` (indices into ``values``).
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    xs = np.sort(x)
    xi = x[cells]
    r = np.asarray(k, dtype=np.int64) - 1  # draws besides the cell itself
    rmax = int(r.max()) if r.size else 0
    obs = np.asarray(observed, dtype=float)
    # the pool without one copy of x_i: xs[0 .. n-2] with xs[pos_i] replaced by xs[n-1]
    pos = np.searchsorted(xs, xi)
    delta = xs[n - 1] - xs[pos]
    upos, inv = np.unique(pos, return_inverse=True)
    mark = np.full(n, -1, dtype=np.int64)  # position -> its row in ``hit``
    mark[upos] = np.arange(upos.size)
    n_ge = np.zeros(cells.size, dtype=np.int64)
    n_le = np.zeros(cells.size, dtype=np.int64)
    done = 0
    while done < permutations:
        # the hit table is (positions x rows): keep it to a few million entries
        per_row = n if rmax * rmax > n - 1 else 1
        rows = min(_CHUNK, max(64, 4_000_000 // max(upos.size, per_row, 1)), permutations - done)
        R = draw_rows(rng, rows, rmax, n - 1)
        prefix = np.zeros((rows, rmax + 1))
        np.cumsum(xs[R], axis=1, out=prefix[:, 1:])
        # hit[u, row]: the column where row hits position upos[u] (rmax if it does not)
        hit = np.full((upos.size, rows), rmax, dtype=np.int32)
        if rmax:
            row, col = np.nonzero(mark[R] >= 0)
            hit[mark[R[row, col]], row] = col
        for lo in range(0, cells.size, max(1, 2_000_000 // rows)):
            sl = slice(lo, lo + max(1, 2_000_000 // rows))
            ri = r[sl]
            sims = prefix[:, ri].T + xi[sl, None]
            sims += delta[sl, None] * (hit[inv[sl]] < ri[:, None])
            o = obs[sl, None]
            n_ge[sl] += (sims >= o - 1e-9 * np.abs(o)).sum(axis=1)
            n_le[sl] += (sims <= o + 1e-9 * np.abs(o)).sum(axis=1)
        done += rows
    return n_ge, n_le


def refined_permutations(m: int, c: int, permutations: int) -> int:
    """Permutations that let ``c`` of ``m`` cells reach Benjamini-Hochberg at 99 %.

    The smallest two-sided p is ``2 / (P + 1)``; ``c`` discoveries at ``alpha`` need it at most
    ``alpha * c / m``, and it is put :data:`REFINE_MARGIN` times lower than that.  Rounded up
    to two significant digits, minus one (539 999), at least ``permutations``, at most
    :data:`MAX_PERMUTATIONS`.

    Examples
    --------
    >>> refined_permutations(2000, 3, 999)
    539999
    >>> refined_permutations(500, 800, 999)
    999
    """
    need = REFINE_MARGIN * 2.0 * m / (REFINE_ALPHA * max(c, 1)) - 1.0
    if need <= permutations:
        return int(permutations)
    step = 10 ** max(3, math.floor(math.log10(need + 1.0)) - 1)  # two significant digits
    nice = math.ceil((need + 1.0) / step) * step - 1
    return int(min(max(nice, permutations), MAX_PERMUTATIONS))


def permutation_counts(
    values: np.ndarray,
    W: sp.spmatrix,
    permutations: int = PERMUTATIONS,
    seed: int | None = SEED,
    refine: bool = True,
) -> PermutationCounts:
    """Conditional-randomisation counts of Gi* for every feature (binary weights with self).

    Parameters
    ----------
    values : array_like, shape (n,)
        The variable (counts per cell).
    W : scipy.sparse matrix
        Binary weights *including the diagonal*, as for :func:`geo.hotspots.gistar.gi_star`.
    permutations : int, default 999
        Permutations of the first run.
    seed : int or None, default :data:`SEED`
        Seed of :func:`numpy.random.default_rng`; ``None`` draws a fresh one.
    refine : bool, default True
        Give the features that no permutation matched a second, independent run with
        :func:`refined_permutations` permutations (their counts are replaced).

    Returns
    -------
    PermutationCounts
    """
    x = np.asarray(values, dtype=float).ravel()
    W = sp.csr_matrix(W, dtype=float)
    n = x.size
    if W.shape != (n, n):
        raise ValueError(f"W has shape {W.shape}, expected {(n, n)}")
    if not np.all(W.data == 1.0) or not np.all(W.diagonal() == 1.0):
        raise ValueError("permutation p-values need binary weights with the diagonal (Gi*)")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    rng = np.random.default_rng(seed)
    k = np.diff(W.indptr)
    observed = W @ x
    cells = np.arange(n)
    n_ge, n_le = count_extremes(x, k, observed, cells, permutations, rng)
    perms = np.full(n, permutations, dtype=np.int64)
    if refine:
        at_floor = np.flatnonzero(np.minimum(n_ge, n_le) == 0)
        more = refined_permutations(n, at_floor.size, permutations)
        rmax = int(k[at_floor].max()) - 1 if at_floor.size else 0
        cost = (n - 1) if rmax * rmax > n - 1 else max(rmax, 1)
        more = min(more, max(permutations, REFINE_WORK // cost))
        if at_floor.size and more > permutations:
            ge2, le2 = count_extremes(x, k[at_floor], observed[at_floor], at_floor, more, rng)
            n_ge[at_floor], n_le[at_floor], perms[at_floor] = ge2, le2, more
    return PermutationCounts(n_ge, n_le, perms)


def permutation_p(
    values: np.ndarray,
    W: sp.spmatrix,
    permutations: int = PERMUTATIONS,
    seed: int | None = SEED,
    refine: bool = True,
) -> np.ndarray:
    """Two-sided conditional-randomisation p-values of Gi* (see :func:`permutation_counts`).

    Examples
    --------
    >>> from geo.hotspots.gistar import distance_band_weights
    >>> x = np.r_[np.ones(60), 9.0, 9.0, 9.0]
    >>> W = distance_band_weights(np.arange(63.0), np.zeros(63), 1.0)
    >>> p = permutation_p(x, W, seed=1)
    >>> bool(p[61] < 0.001), bool(p[0] > 0.5)
    (True, True)
    """
    return permutation_counts(values, W, permutations, seed, refine).p
