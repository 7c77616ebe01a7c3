"""Automatic parameters for hot spot analysis, in the spirit of ArcGIS Optimized Hot Spot Analysis.

Three decisions are made from the data when the caller does not fix them; every rule is
implemented here from its published description (no code of other projects is reused) and
each chooser returns a plain-language ``rule`` string so the API can show planners *why*
a parameter has its value.

1. **Locational outliers** (:func:`locational_outliers`).  A point is a locational outlier
   when its distance to its nearest neighbour lies more than ``n_std`` (default 3) standard
   deviations above the mean nearest-neighbour distance -- the rule ArcGIS documents for
   Optimized Hot Spot Analysis.  Mean and standard deviation are taken over the *non-zero*
   distances, because geocoded city reports often share an address (distance 0), and many
   zeros would shrink the mean and flag ordinary suburban reports as outliers.
   Outliers are left out of the grid extent, the cell size and the counts.

2. **Cell size** (:func:`default_cell_size`).  ``2 x`` the mean non-zero nearest-neighbour
   distance of the (non-outlier) points.  Under complete spatial randomness the expected
   nearest-neighbour distance is ``0.5 * sqrt(A / n)``, so this gives cells of about
   ``A / n``: roughly one incident per cell on average -- fine enough to resolve
   clustering, coarse enough that the counts are not almost all zeros.  The size is then
   raised, if needed, to ``sqrt(bbox area / max_cells)`` so that a dense data set does not
   produce more than about ``max_cells`` (100 000) cells, and rounded up to two significant
   digits (e.g. 237.4 m -> 240 m) so that the reported value reads naturally.

3. **Distance band** (:func:`default_band`).  Incremental spatial autocorrelation: global
   Moran's I (binary distance-band weights, normality z-score) is computed for ``n_bands``
   (10) bands starting at ``1.5 x cell`` (the queen ring: 8 neighbours for interior cells)
   and growing by one cell size.  The band chosen is, in order of preference:

   a. the first local maximum (peak) of the z-score whose z exceeds 1.96 (significant);
   b. otherwise the band with the largest z, if that z exceeds 1.96 (a monotone curve);
   c. otherwise (no significant clustering at any scale) the smallest distance at which
      *every* cell has at least 8 neighbours -- ArcGIS's rule of thumb for Gi*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree
from scipy.special import ndtr

#: Points whose nearest-neighbour distance is this many standard deviations above the mean
#: are locational outliers.
OUTLIER_STD = 3.0
#: Upper bound on the number of grid cells the automatic cell size may produce.
MAX_CELLS = 100_000
#: Number of distance bands examined by incremental spatial autocorrelation.
N_BANDS = 10
#: z-score a Moran's I peak must exceed to count as clustering (two-sided 95%).
PEAK_Z = 1.959963984540054
#: Neighbours every cell must have at the fallback band.
MIN_NEIGHBOURS = 8


def nearest_neighbor_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance from every point to its nearest other point.

    Parameters
    ----------
    x, y : array_like
        Metric coordinates (e.g. UTM metres), one value per point; at least 2 points.

    Returns
    -------
    numpy.ndarray
        One distance per point; 0 for points that share their location with another.

    Examples
    --------
    >>> nearest_neighbor_distances(np.array([0.0, 3.0, 3.0]), np.array([0.0, 4.0, 4.0]))
    array([5., 0., 0.])
    """
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    if len(xy) < 2:
        raise ValueError("need at least 2 points for nearest-neighbour distances")
    d, _ = cKDTree(xy).query(xy, k=2)
    return d[:, 1]


def locational_outliers(
    x: np.ndarray, y: np.ndarray, n_std: float = OUTLIER_STD, *, nn: np.ndarray | None = None
) -> np.ndarray:
    """Flag points that are far from every other point.

    A point is an outlier when ``(d - mean) / std > n_std`` where ``d`` is its
    nearest-neighbour distance and ``mean``/``std`` (population) are computed over the
    non-zero nearest-neighbour distances of all points (see the module notes).

    Parameters
    ----------
    x, y : array_like
        Metric coordinates of the points.
    n_std : float, default 3
        Number of standard deviations beyond the mean.
    nn : array_like, optional
        Precomputed :func:`nearest_neighbor_distances` of the points.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` for outliers.  Fewer than 3 points, or fewer than 2 distinct non-zero
        distances, yield no outliers.

    Examples
    --------
    >>> gx, gy = np.meshgrid(np.arange(10.0), np.arange(10.0))
    >>> x = np.append(gx.ravel(), 100.0)
    >>> y = np.append(gy.ravel(), 100.0)
    >>> np.flatnonzero(locational_outliers(x, y))
    array([100])
    """
    x = np.asarray(x, dtype=float)
    if x.size < 3:
        return np.zeros(x.size, dtype=bool)
    d = nearest_neighbor_distances(x, y) if nn is None else np.asarray(nn, dtype=float)
    nonzero = d[d > 0]
    if nonzero.size < 2:
        return np.zeros(x.size, dtype=bool)
    std = nonzero.std()
    if std == 0:
        return np.zeros(x.size, dtype=bool)
    return (d - nonzero.mean()) / std > n_std


def _nice_ceil(value: float) -> float:
    """Round ``value`` up to two significant digits (237.4 -> 240, 0.0123 -> 0.013)."""
    if value <= 0 or not math.isfinite(value):
        raise ValueError(f"cannot round {value!r}")
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    # The small tolerance keeps values that already are round (240.0000001) from jumping.
    return math.ceil(value / step - 1e-9) * step


def default_cell_size(
    x: np.ndarray, y: np.ndarray, max_cells: int = MAX_CELLS, *, nn: np.ndarray | None = None
) -> tuple[float, str]:
    """Choose a grid cell size from the spacing of the points.

    ``max(2 * mean non-zero nearest-neighbour distance, sqrt(bbox area / max_cells))``,
    rounded up to two significant digits.  Pass the points *after* removing outliers.

    Parameters
    ----------
    x, y : array_like
        Metric coordinates of the points (at least 2).
    max_cells : int, default 100 000
        The cell is never so small that the bounding box holds more than about this many
        cells (grid alignment can add one row and one column).
    nn : array_like, optional
        Precomputed nearest-neighbour distances of the points (e.g. computed before the
        outliers were dropped; the few points whose nearest neighbour was an outlier
        then keep that slightly larger distance).

    Returns
    -------
    cell_size : float
        Side of the square cells, in the units of ``x``/``y``.
    rule : str
        How the value was obtained, for reports.

    Examples
    --------
    >>> gx, gy = np.meshgrid(np.arange(0.0, 1000.0, 10.0), np.arange(0.0, 1000.0, 10.0))
    >>> default_cell_size(gx.ravel(), gy.ravel())[0]
    20.0
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    d = nearest_neighbor_distances(x, y) if nn is None else np.asarray(nn, dtype=float)
    nonzero = d[d > 0]
    width = float(x.max() - x.min())
    height = float(y.max() - y.min())
    cap = math.sqrt(width * height / max_cells) if width > 0 and height > 0 else 0.0
    from_nn = 2.0 * float(nonzero.mean()) if nonzero.size else 0.0
    if from_nn <= 0 and cap <= 0:
        raise ValueError("all points coincide (or lie on a line): cannot choose a cell size")
    if from_nn >= cap:
        raw = from_nn
        rule = (
            f"2 x mean nearest-neighbour distance of {x.size} points "
            f"({from_nn / 2:.1f}), about one point per cell under randomness"
        )
    else:
        raw = cap
        rule = f"sqrt(bounding-box area / {max_cells} cells) cap (2 x mean NN distance was "
        rule += f"{from_nn:.1f})"
    cell = _nice_ceil(raw)
    return cell, f"{rule}; rounded up from {raw:.2f} to {cell:g}"


class MoranResult(NamedTuple):
    """Global Moran's I under the normality assumption."""

    I: float  # noqa: E741 -- the statistic's name
    expected: float
    variance: float
    z: float
    p: float  #: two-sided normal p-value (as esda's ``p_norm`` with ``two_tailed=True``)


def _moran_from_sums(
    n: int, num: float, z2: float, s0: float, s1: float, s2: float
) -> tuple[float, float, float, float, float]:
    """Moran's I and its normality moments from the cross-product and weight sums."""
    expected = -1.0 / (n - 1)
    if s0 <= 0 or z2 <= 0:
        return math.nan, expected, math.nan, math.nan, math.nan
    stat = n / s0 * num / z2
    variance = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n * n - 1) * s0 * s0) - expected**2
    z = (stat - expected) / math.sqrt(variance)
    p = float(2.0 * ndtr(-abs(z)))
    return stat, expected, variance, z, p


def morans_i(values: np.ndarray, W: sp.spmatrix) -> MoranResult:
    """Global Moran's I with its normality z-score.

    Parameters
    ----------
    values : array_like, shape (n,)
        The variable.
    W : scipy.sparse matrix, shape (n, n)
        Spatial weights, used as given (no row-standardisation); for a distance band use
        :func:`geo.hotspots.gistar.distance_band_weights` with ``include_self=False``.

    Returns
    -------
    MoranResult
        ``I``, ``expected`` (= -1/(n-1)), ``variance`` and ``z`` under normality, and the
        two-sided ``p``: identical to esda ``Moran(y, w, transformation="b")`` attributes
        ``I``, ``EI``, ``VI_norm``, ``z_norm``, ``p_norm``.

    Examples
    --------
    >>> W = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]))
    >>> round(morans_i(np.array([1.0, 2.0, 3.0, 4.0]), W).I, 6)
    0.333333
    """
    y = np.asarray(values, dtype=float).ravel()
    W = sp.csr_matrix(W, dtype=float)
    n = y.size
    if W.shape != (n, n):
        raise ValueError(f"W has shape {W.shape}, expected {(n, n)}")
    z = y - y.mean()
    s0 = float(W.sum())
    sym = W + W.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    s2 = float(((np.asarray(W.sum(axis=1)).ravel() + np.asarray(W.sum(axis=0)).ravel()) ** 2).sum())
    return MoranResult(*_moran_from_sums(n, float(z @ (W @ z)), float(z @ z), s0, s1, s2))


@dataclass
class ISAResult:
    """Incremental spatial autocorrelation: Moran's I for a series of distance bands."""

    distances: np.ndarray
    I: np.ndarray  # noqa: E741
    expected: float
    variance: np.ndarray
    z: np.ndarray
    p: np.ndarray
    mean_neighbours: np.ndarray  #: average neighbours per cell (self excluded) at each band


def incremental_spatial_autocorrelation(
    cx: np.ndarray, cy: np.ndarray, values: np.ndarray, distances: np.ndarray
) -> ISAResult:
    """Global Moran's I (binary distance-band weights) for several distance bands at once.

    All pairs closer than the largest band are found once with a k-d tree; each pair is
    assigned to the first band that contains it, and the cross-products and neighbour
    counts are accumulated band by band (cumulative sums), so the cost is that of the
    largest band alone.  Each band's result equals :func:`morans_i` with
    ``distance_band_weights(cx, cy, band, include_self=False)``.

    Parameters
    ----------
    cx, cy : array_like
        Metric coordinates of the features (e.g. grid cell centres).
    values : array_like
        The variable (e.g. counts per cell).
    distances : array_like
        Increasing distance bands; a pair is neighbours when its distance is ``<= band``
        (with a relative tolerance of 1e-9 so that lattice distances are not lost to
        rounding).

    Returns
    -------
    ISAResult

    Examples
    --------
    >>> gx, gy = np.meshgrid(np.arange(20.0), np.arange(20.0))
    >>> v = (gx.ravel() < 10).astype(float)  # two halves: strong clustering
    >>> isa = incremental_spatial_autocorrelation(gx.ravel(), gy.ravel(), v, [1.5, 2.5])
    >>> bool(isa.z[0] > 10)
    True
    """
    cx = np.asarray(cx, dtype=float).ravel()
    cy = np.asarray(cy, dtype=float).ravel()
    y = np.asarray(values, dtype=float).ravel()
    bands = np.asarray(distances, dtype=float).ravel()
    n = y.size
    if not (cx.size == cy.size == n):
        raise ValueError("cx, cy and values must have the same length")
    if bands.size == 0 or np.any(np.diff(bands) <= 0):
        raise ValueError("distances must be a non-empty increasing sequence")
    nb = bands.size
    tol = 1.0 + 1e-9
    pairs = cKDTree(np.column_stack([cx, cy])).query_pairs(bands[-1] * tol, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    d = np.hypot(cx[i] - cx[j], cy[i] - cy[j])
    # band index of each pair: first band b with d <= bands[b] * tol
    b = np.searchsorted(bands * tol, d, side="left")
    keep = b < nb
    i, j, b = i[keep], j[keep], b[keep]
    z = y - y.mean()
    z2 = float(z @ z)
    cross = np.cumsum(np.bincount(b, weights=z[i] * z[j], minlength=nb))
    npairs = np.cumsum(np.bincount(b, minlength=nb)).astype(float)
    # neighbour counts per (cell, band), cumulated over bands
    k = np.bincount(i * nb + b, minlength=n * nb) + np.bincount(j * nb + b, minlength=n * nb)
    k = np.cumsum(k.reshape(n, nb), axis=1).astype(float)
    out = np.empty((5, nb))
    for t in range(nb):
        s0 = 2.0 * npairs[t]
        out[:, t] = _moran_from_sums(
            n, 2.0 * cross[t], z2, s0, 2.0 * s0, 4.0 * float((k[:, t] ** 2).sum())
        )
    return ISAResult(
        distances=bands,
        I=out[0],
        expected=-1.0 / (n - 1),
        variance=out[2],
        z=out[3],
        p=out[4],
        mean_neighbours=2.0 * npairs / n,
    )


def incremental_spatial_autocorrelation_lattice(
    ix: np.ndarray,
    iy: np.ndarray,
    values: np.ndarray,
    distances: np.ndarray,
    cell_size: float,
) -> ISAResult:
    """:func:`incremental_spatial_autocorrelation` for cells of a square grid, faster.

    On a lattice the neighbour pairs within a band are the pairs at a fixed set of
    integer offsets ``(dx, dy)``; the cells are laid on a dense 2-D array and each offset
    is one shifted element-wise product, so no pair list is ever built (about 10 x
    faster than the k-d tree version on 100 000 cells).

    Parameters
    ----------
    ix, iy : array_like of int
        Integer column and row of each cell (:class:`geo.hotspots.gistar.Grid` ``ix``, ``iy``).
    values : array_like
        The variable per cell.
    distances : array_like
        Increasing distance bands, in the units of ``cell_size``.
    cell_size : float
        Side of the cells.

    Returns
    -------
    ISAResult
        Equal to ``incremental_spatial_autocorrelation(cx, cy, values, distances)`` with the
        cell centres ``cx = (ix + 0.5) * cell_size`` (and the same for ``cy``).

    Examples
    --------
    >>> gx, gy = np.meshgrid(np.arange(20), np.arange(20))
    >>> v = (gx.ravel() < 10).astype(float)
    >>> isa = incremental_spatial_autocorrelation_lattice(gx.ravel(), gy.ravel(), v, [1.5], 1.0)
    >>> bool(isa.z[0] > 10)
    True
    """
    ix = np.asarray(ix, dtype=np.int64).ravel()
    iy = np.asarray(iy, dtype=np.int64).ravel()
    y = np.asarray(values, dtype=float).ravel()
    bands = np.asarray(distances, dtype=float).ravel()
    n = y.size
    if not (ix.size == iy.size == n):
        raise ValueError("ix, iy and values must have the same length")
    if bands.size == 0 or np.any(np.diff(bands) <= 0):
        raise ValueError("distances must be a non-empty increasing sequence")
    nb = bands.size
    col, row = ix - ix.min(), iy - iy.min()
    nx, ny = int(col.max()) + 1, int(row.max()) + 1
    if np.unique(row * nx + col).size != n:
        raise ValueError("two cells share the same (ix, iy)")
    z = y - y.mean()
    Z = np.zeros((ny, nx))
    Z[row, col] = z
    P = np.zeros((ny, nx))
    P[row, col] = 1.0
    K = np.zeros((ny, nx))  # neighbours per cell, cumulated over the bands
    limits = bands / cell_size * (1.0 + 1e-9)
    reach = int(math.floor(limits[-1]))
    dx, dy = np.meshgrid(np.arange(0, reach + 1), np.arange(-reach, reach + 1))
    dx, dy = dx.ravel(), dy.ravel()
    half = (dx > 0) | ((dx == 0) & (dy > 0))  # each unordered pair once
    dx, dy = dx[half], dy[half]
    band_of = np.searchsorted(limits, np.hypot(dx, dy), side="left")
    cross = np.zeros(nb)
    npairs = np.zeros(nb)
    ksq = np.zeros(nb)
    for b in range(nb):
        for ddx, ddy in zip(dx[band_of == b], dy[band_of == b], strict=True):
            if ddx >= nx or abs(ddy) >= ny:
                continue
            ya = slice(max(0, -ddy), ny - max(0, ddy))
            yb = slice(max(0, ddy), ny - max(0, -ddy))
            xa, xb = slice(0, nx - ddx), slice(ddx, nx)
            both = P[ya, xa] * P[yb, xb]
            cross[b] += float(np.sum(Z[ya, xa] * Z[yb, xb]))
            npairs[b] += float(both.sum())
            K[ya, xa] += both
            K[yb, xb] += both
        ksq[b] = float(np.sum(K * K))
    cross = np.cumsum(cross)
    npairs = np.cumsum(npairs)
    z2 = float(z @ z)
    out = np.empty((5, nb))
    for t in range(nb):
        s0 = 2.0 * npairs[t]
        out[:, t] = _moran_from_sums(n, 2.0 * cross[t], z2, s0, 2.0 * s0, 4.0 * ksq[t])
    return ISAResult(
        distances=bands,
        I=out[0],
        expected=-1.0 / (n - 1),
        variance=out[2],
        z=out[3],
        p=out[4],
        mean_neighbours=2.0 * npairs / n,
    )


@dataclass
class BandChoice:
    """The distance band chosen by :func:`default_band` and the evidence for it."""

    band: float
    rule: str
    isa: ISAResult


def min_band_for_neighbours(cx: np.ndarray, cy: np.ndarray, k: int = MIN_NEIGHBOURS) -> float:
    """Smallest distance at which every feature has at least ``k`` neighbours (self excluded).

    Examples
    --------
    >>> gx, gy = np.meshgrid(np.arange(10.0), np.arange(10.0))
    >>> round(min_band_for_neighbours(gx.ravel(), gy.ravel()), 4)  # a corner needs 2*sqrt(2)
    2.8284
    """
    xy = np.column_stack([np.asarray(cx, dtype=float), np.asarray(cy, dtype=float)])
    kk = min(k + 1, len(xy))
    if kk < 2:
        raise ValueError("need at least 2 features")
    d, _ = cKDTree(xy).query(xy, k=kk)
    return float(d[:, -1].max())


def default_band(
    cx: np.ndarray,
    cy: np.ndarray,
    values: np.ndarray,
    cell_size: float,
    n_bands: int = N_BANDS,
    *,
    ix: np.ndarray | None = None,
    iy: np.ndarray | None = None,
) -> BandChoice:
    """Choose the Gi* distance band by incremental spatial autocorrelation.

    Bands ``1.5, 2.5, ..., (n_bands + 0.5)`` cell sizes are evaluated; the rule is given in
    the module docstring (first significant peak, else significant maximum, else the
    smallest band giving every cell 8 neighbours).

    Parameters
    ----------
    cx, cy : array_like
        Cell centres.
    values : array_like
        Counts per cell.
    cell_size : float
        Grid cell size; sets the start and the increment of the bands.
    n_bands : int, default 10
        Number of bands to evaluate.
    ix, iy : array_like of int, optional
        Integer grid positions of the cells; when given, the fast lattice version
        (:func:`incremental_spatial_autocorrelation_lattice`) is used.

    Returns
    -------
    BandChoice

    Examples
    --------
    >>> gx, gy = np.meshgrid(np.arange(30.0), np.arange(30.0))
    >>> rng = np.random.default_rng(0)
    >>> choice = default_band(gx.ravel(), gy.ravel(), rng.poisson(1.0, 900), 1.0)
    >>> choice.band >= 1.5
    True
    """
    bands = cell_size * (1.5 + np.arange(n_bands, dtype=float))
    if ix is not None and iy is not None:
        isa = incremental_spatial_autocorrelation_lattice(ix, iy, values, bands, cell_size)
    else:
        isa = incremental_spatial_autocorrelation(cx, cy, values, bands)
    z = np.where(np.isfinite(isa.z), isa.z, -np.inf)
    for t in range(1, n_bands - 1):
        if z[t] > PEAK_Z and z[t] >= z[t - 1] and z[t] > z[t + 1]:
            return BandChoice(
                float(bands[t]),
                f"first peak of Moran's I z-score ({z[t]:.2f}) over {n_bands} bands "
                f"from {bands[0]:g} by {cell_size:g}",
                isa,
            )
    t = int(np.argmax(z))
    if z[t] > PEAK_Z:
        return BandChoice(
            float(bands[t]),
            f"no peak; band of maximum Moran's I z-score ({z[t]:.2f}) over {n_bands} bands "
            f"from {bands[0]:g} by {cell_size:g}",
            isa,
        )
    band = min_band_for_neighbours(cx, cy, MIN_NEIGHBOURS)
    return BandChoice(
        band,
        f"no significant spatial autocorrelation at any of {n_bands} bands (max z "
        f"{np.max(z):.2f}); smallest band giving every cell >= {MIN_NEIGHBOURS} neighbours",
        isa,
    )
