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

The floor and the Monte-Carlo error: with ``P`` permutations no p-value is below
``2 / (P + 1)``, and Benjamini-Hochberg over ``m`` cells needs ``p <= alpha * k / m`` for
``k`` discoveries: with 999 permutations and thousands of cells real hot spots could never
reach 99 %.  And a p-value from 999 permutations near a cut-off is a coin toss: on the Boston
file one seed in five moved 3-6 % of the cells to another class.  So after the first run, the
cells whose class the counts cannot yet tell (:func:`undecided`: the 99.9 % Monte-Carlo
interval of the p-value holds a Benjamini-Hochberg line ``alpha * k / m``; a p-value resting
on its floor holds the 99 % line until there are permutations enough) get ten times as many
permutations, round after round, their counts accumulating, until every class is decided
or a cap is reached
(:func:`permutation_counts`, ``refine=True``).  The classes are then those of the exact
p-values but for a 0.1 % chance per cell.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import beta

#: Permutations of the first run (GeoDa's and esda's default).
PERMUTATIONS = 999
#: Default seed: the same data give the same classes.
SEED = 12345
#: Benjamini-Hochberg levels of the classes (99, 95 and 90 %), as geo.hotspots.gistar.LEVELS.
LEVELS = (0.01, 0.05, 0.10)
#: Monte-Carlo confidence of "the class is decided" (:func:`undecided`).
CONFIDENCE = 0.999
#: At most this many permutations for one cell, all rounds together (memory and time guard).
MAX_PERMUTATIONS = 200_000
#: Work one refining round may do at most: (cells + draws a permutation) x permutations.
REFINE_WORK = 30_000_000
_CHUNK = 65_536  # permutation rows per block
#: Rows of ``r`` draws from ``pool`` are drawn as integers and redrawn where one repeats
#: while ``r * r <= DENSE * pool`` (a row is free of repeats with probability above
#: ``exp(-DENSE / 2)``); beyond, by a partial Fisher-Yates shuffle (``r`` swaps a row).
DENSE = 2
_SHUFFLE_BYTES = 2_000_000  # a partial shuffle's table per block (see _shuffle_prefix)
#: Draws kept for the next analysis of this process (:func:`kept_draws`), bytes at most in all
#: and for one block of rows.
DRAWS_KEPT_BYTES = 128 * 2**20
DRAWS_KEPT_BLOCK = 48 * 2**20


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
    """``rows`` x ``r`` indices, each row a draw without replacement from ``0 .. pool - 1``
    (uniform over ordered draws: every prefix of a row is a draw of its own length).

    Few draws (``r * r <= DENSE * pool``): ``r`` integers a row, the rows holding a repeat drawn
    again.  More: the first ``r`` steps of a Fisher-Yates shuffle, run for all the rows at once
    (:func:`_shuffle_prefix`): ``r`` random numbers a row, not ``pool``.

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
    if r * r > DENSE * pool:  # repeats common: a partial shuffle
        return _shuffle_prefix(rng, rows, r, pool)
    out = rng.integers(0, pool, size=(rows, r), dtype=np.int32 if pool < 2**31 else np.int64)
    bad = np.arange(rows)
    while bad.size:  # redraw the rows holding a repeated index (rare when r << pool)
        srt = np.sort(out[bad], axis=1)
        bad = bad[(np.diff(srt, axis=1) == 0).any(axis=1)]
        if bad.size:
            out[bad] = rng.integers(0, pool, size=(bad.size, r), dtype=out.dtype)
    return out


class _KeptDraws:
    """Blocks of :func:`draw_rows` by the generator's state before the draw and the block's
    shape, with the state after it; the least recently used go first beyond
    :data:`DRAWS_KEPT_BYTES`."""

    def __init__(self) -> None:
        self.blocks: OrderedDict[tuple, tuple[np.ndarray, dict]] = OrderedDict()
        self.nbytes = 0
        self._lock = threading.Lock()  # analyses in threads of one process share it

    def draw(self, rng: np.random.Generator, rows: int, r: int, pool: int) -> np.ndarray:
        before = rng.bit_generator.state
        key = (repr(before), rows, r, pool)
        with self._lock:
            hit = self.blocks.get(key)
            if hit is not None:
                self.blocks.move_to_end(key)
        if hit is not None:
            rng.bit_generator.state = hit[1]
            return hit[0]
        out = draw_rows(rng, rows, r, pool)
        if out.nbytes <= DRAWS_KEPT_BLOCK:
            out.flags.writeable = False  # shared by the analyses that come after
            with self._lock:
                if key not in self.blocks:
                    self.blocks[key] = (out, rng.bit_generator.state)
                    self.nbytes += out.nbytes
                while self.nbytes > DRAWS_KEPT_BYTES:
                    _, (old, _) = self.blocks.popitem(last=False)
                    self.nbytes -= old.nbytes
        return out

    def clear(self) -> None:
        with self._lock:
            self.blocks.clear()
            self.nbytes = 0


#: The draws of this process's analyses (:func:`kept_draws`).
KEPT = _KeptDraws()


def kept_draws(rng: np.random.Generator, rows: int, r: int, pool: int) -> np.ndarray:
    """:func:`draw_rows`, kept: the same rows and the same generator state after them as a new
    draw (a pure function of the state before, the shape and the pool), but taken from the
    draws this process already made when it can. The rows depend on the number of cells
    (the pool) and the largest neighbourhood, not on the counts: a new appeal changes the
    counts of a cell or two, and the next analysis of the same view (the planner's default
    view after every new appeal) reads the 40 million draws of its refining rounds
    (0.4 s at 2.3 million appeals) from memory. Read-only arrays.

    Examples
    --------
    >>> a = kept_draws(np.random.default_rng(7), 100, 5, 50)
    >>> b = draw_rows(np.random.default_rng(7), 100, 5, 50)
    >>> bool((a == b).all())
    True
    """
    return KEPT.draw(rng, rows, r, pool)


def _shuffle_prefix(rng: np.random.Generator, rows: int, r: int, pool: int) -> np.ndarray:
    """The first ``r`` places of ``rows`` independent Fisher-Yates shuffles of ``0 .. pool - 1``.

    Step ``j`` swaps place ``j`` of every row with a place drawn uniformly from ``j .. pool - 1``
    of that row, so each row's first ``r`` places are a uniform ordered draw without replacement.
    Vectorised over rows, in blocks whose ``pool x block`` table stays in the cache (the table
    starts as ``0 .. pool - 1`` in every column: a copy, the only work in ``pool``).

    Examples
    --------
    >>> R = _shuffle_prefix(np.random.default_rng(0), 20_000, 3, 4)
    >>> bool((np.diff(np.sort(R, axis=1), axis=1) > 0).all())
    True
    >>> bool(np.abs(np.bincount(R[:, 2], minlength=4) / 20_000 - 0.25).max() < 0.02)
    True
    """
    dt = np.int16 if pool < 2**15 else np.int32 if pool < 2**31 else np.int64
    block = int(np.clip(_SHUFFLE_BYTES // (pool * np.dtype(dt).itemsize), 1024, 4096))
    it = np.int32 if pool * block < 2**31 else np.int64
    out = np.empty((rows, r), dtype=dt)
    start = np.arange(pool, dtype=dt)[:, None]
    for lo in range(0, rows, block):
        b = min(block, rows - lo)
        table = np.empty((pool, b), dtype=dt)  # table[place, row]
        table[:] = start
        flat = table.reshape(-1)
        col = np.arange(b, dtype=it)
        for j in range(r):
            idx = rng.integers(j, pool, size=b, dtype=it)  # the place swapped with j, per row
            idx *= b
            idx += col
            drawn = flat[idx]
            flat[idx] = table[j]
            table[j] = drawn
        out[lo : lo + b] = table[:r].T
    return out


def count_extremes(
    values: np.ndarray,
    k: np.ndarray,
    observed: np.ndarray,
    cells: np.ndarray,
    permutations: int,
    rng: np.random.Generator,
    width: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_ge``, ``n_le`` of ``permutations`` conditional randomisations for ``cells``.

    ``values``: all ``n`` values; ``k``: neighbourhood size (self included) and ``observed``:
    neighbourhood sum, both for ``cells`` (indices into ``values``). ``width``: draws per
    permutation (at least the largest ``k`` - 1; default that): the same for every round of
    one analysis, so that its rows do not depend on which cells a round refines, and can
    be kept (:func:`kept_draws`).
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    xs = np.sort(x)
    xi = x[cells]
    r = np.asarray(k, dtype=np.int64) - 1  # draws besides the cell itself
    rmax = int(r.max()) if r.size else 0
    if width is not None:
        if width < rmax:
            raise ValueError(f"width {width} is less than the largest neighbourhood's draws {rmax}")
        rmax = width
    obs = np.asarray(observed, dtype=float)
    # the pool without one copy of x_i: xs[0 .. n-2] with xs[pos_i] replaced by xs[n-1]
    pos = np.searchsorted(xs, xi)
    delta = xs[n - 1] - xs[pos]
    upos, inv = np.unique(pos, return_inverse=True)
    mark = np.full(n, -1, dtype=np.int32)  # position -> its row in ``hit``
    mark[upos] = np.arange(upos.size)
    # counts (whole numbers) are summed as 32-bit integers when no sum can overflow them:
    # exact as the floats, half the memory traffic
    whole = bool(np.all(xs == np.round(xs))) and xs.size and abs(xs).max() * (rmax + 1) < 2**31
    pool = xs.astype(np.int32) if whole else xs
    n_ge = np.zeros(cells.size, dtype=np.int64)
    n_le = np.zeros(cells.size, dtype=np.int64)
    done = 0
    while done < permutations:
        # the draws (rows x rmax) and the hit table (positions x rows): a few million entries
        # a power of two: blocks of the same shape when a few more or fewer cells are refined
        fit = 1 << max(6, (4_000_000 // max(upos.size, rmax, 1)).bit_length() - 1)
        rows = min(_CHUNK, fit, permutations - done)
        R = kept_draws(rng, rows, rmax, n - 1)
        prefix = np.zeros((rows, rmax + 1), dtype=pool.dtype)
        np.cumsum(pool[R], axis=1, out=prefix[:, 1:])
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


def bh_lines(p: np.ndarray) -> np.ndarray:
    """The Benjamini-Hochberg lines ``alpha * k / m`` of the three class levels.

    ``k`` is the number of discoveries at that level (a cell is in it when ``p <= alpha * k /
    m``), or 1 when there is none: the line a first discovery would have to cross.  The same
    rule as :func:`geo.hotspots.gistar.classify`.

    Examples
    --------
    >>> bh_lines(np.array([0.0001, 0.004, 0.5, 0.9])).tolist()
    [0.005, 0.025, 0.05]
    """
    flat = np.sort(np.asarray(p, dtype=float))
    m = flat.size
    lines = []
    for alpha in LEVELS:
        below = np.flatnonzero(flat <= alpha * np.arange(1, m + 1) / m)
        lines.append(alpha * (below[-1] + 1 if below.size else 1) / m)
    return np.asarray(lines)


def undecided(counts: PermutationCounts, lines: np.ndarray) -> np.ndarray:
    """Cells whose class the permutations so far cannot tell: the Monte-Carlo interval of their
    p-value (:data:`CONFIDENCE`, Clopper-Pearson on the tail count) holds one of the
    Benjamini-Hochberg lines of :func:`bh_lines`.  A cell no permutation matched has the
    interval ``[0, ~15 / P]``: it goes on while that holds the 99 % line.

    Examples
    --------
    >>> c = PermutationCounts(np.array([0, 500, 3]), np.array([999, 500, 996]),
    ...                       np.array([999, 999, 999]))
    >>> undecided(c, np.array([0.001, 0.004, 0.004])).tolist()
    [True, False, True]
    """
    tail = np.minimum(counts.n_ge, counts.n_le).astype(float)
    perms = counts.permutations.astype(float)
    q = (1.0 - CONFIDENCE) / 2.0
    lo = np.where(tail > 0, beta.ppf(q, tail, perms - tail + 1.0), 0.0)
    hi = np.where(tail < perms, beta.ppf(1.0 - q, tail + 1.0, perms - tail), 1.0)
    lo, hi = np.minimum(1.0, 2.0 * lo), np.minimum(1.0, 2.0 * hi)
    return ((lo[:, None] <= lines[None, :]) & (lines[None, :] < hi[:, None])).any(axis=1)


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
        Permutations of the first run (every feature).
    seed : int or None, default :data:`SEED`
        Seed of :func:`numpy.random.default_rng`; ``None`` draws a fresh one.
    refine : bool, default True
        Run more permutations, in rounds of ten times as many, for the features whose class
        the counts so far cannot tell (:func:`undecided`): their counts accumulate, until none
        is undecided, :data:`MAX_PERMUTATIONS` or the round's work cap :data:`REFINE_WORK`.

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
    width = int(k.max()) - 1 if n else 0  # draws per permutation, in every round
    observed = W @ x
    cells = np.arange(n)
    n_ge, n_le = count_extremes(x, k, observed, cells, permutations, rng, width)
    counts = PermutationCounts(n_ge, n_le, np.full(n, permutations, dtype=np.int64))
    if not refine:
        return counts
    done = permutations
    while True:
        todo = np.flatnonzero(undecided(counts, bh_lines(counts.p)))
        if not todo.size or done >= MAX_PERMUTATIONS:
            return counts
        cost = todo.size + max(width, 1)  # counts, and the draws of a permutation
        more = min(9 * (done + 1), MAX_PERMUTATIONS - done, REFINE_WORK // cost)
        if more < 1:
            return counts
        ge2, le2 = count_extremes(x, k[todo], observed[todo], todo, more, rng, width)
        counts.n_ge[todo] += ge2
        counts.n_le[todo] += le2
        counts.permutations[todo] += more
        done += more


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
    >>> bool(p[61] < 0.002), bool(p[0] > 0.5)
    (True, True)
    """
    return permutation_counts(values, W, permutations, seed, refine).p
