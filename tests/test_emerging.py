"""Emerging hot spots (geo.hotspots.emerging): Mann-Kendall, space-time Gi*, pattern categories."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from geo.hotspots.emerging import (
    CATEGORIES,
    LABELS,
    emerging_hotspots,
    mann_kendall,
    space_time_counts,
    space_time_gi_star,
)
from geo.hotspots.gistar import distance_band_weights, gi_star


def test_mann_kendall_hand_computed_with_one_tie() -> None:
    # x = 1 3 2 3 5; signs of x_j - x_i for i < j:
    #   from 1: + + + +  (4)   from 3: - 0 +  (0)   from 2: + +  (2)   from 3: +  (1)
    # S = 7.  var = [5*4*15 - 2*1*9] / 18 = (300 - 18) / 18 = 282/18 (one pair of tied 3s)
    mk = mann_kendall([1, 3, 2, 3, 5])
    assert mk.s == 7
    assert mk.var_s == pytest.approx(282 / 18)
    z = (7 - 1) / math.sqrt(282 / 18)
    assert mk.z == pytest.approx(z)  # 1.5159
    assert mk.p == pytest.approx(2 * stats.norm.sf(z))
    assert mk.tau == pytest.approx(7 / 10)


def test_mann_kendall_hand_computed_with_two_tie_groups() -> None:
    # x = 2 2 2 1 1 3: from each 2: - - +, - - +, - - +  -> -1 each (3 in all: -3);
    # from the 1s: (0 +) and (+) -> +2.  S = -1.
    # var = [6*5*17 - 3*2*11 - 2*1*9] / 18 = (510 - 66 - 18) / 18 = 426/18
    mk = mann_kendall([2, 2, 2, 1, 1, 3])
    assert mk.s == -1
    assert mk.var_s == pytest.approx(426 / 18)
    assert mk.z == 0.0 and mk.p == 1.0  # continuity correction: (S + 1) / sd = 0
    # a constant series has no variance and no trend
    flat = mann_kendall(np.full(8, 4.0))
    assert flat.s == 0 and flat.var_s == 0 and flat.z == 0 and flat.p == 1


def test_mann_kendall_vectorised_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(15, 40)).astype(float)  # many ties
    X[:, 0] = np.arange(15)  # a clean upward trend
    mk = mann_kendall(X, axis=0)
    for c in range(X.shape[1]):
        x = X[:, c]
        s = sum(np.sign(x[j] - x[i]) for i in range(15) for j in range(i + 1, 15))
        _, tie_sizes = np.unique(x, return_counts=True)
        var = (15 * 14 * 35 - sum(t * (t - 1) * (2 * t + 5) for t in tie_sizes)) / 18
        assert mk.s[c] == s
        assert mk.var_s[c] == pytest.approx(var)
    assert mk.z[0] > 5 and mk.p[0] < 1e-6
    mk_t = mann_kendall(X.T, axis=1)
    np.testing.assert_array_equal(mk_t.z, mk.z)
    with pytest.raises(ValueError):
        mann_kendall([1.0, np.nan, 2.0])


def test_space_time_counts() -> None:
    cube = space_time_counts(np.array([0, 2, 2, 1, -1, 0]), np.array([0, 1, 1, 1, 0, 3]), 3, 3)
    np.testing.assert_array_equal(cube, [[1, 0, 0], [0, 1, 2], [0, 0, 0]])


@pytest.mark.parametrize("k", [0, 1, 2])
def test_space_time_gi_star_equals_gi_star_on_explicit_cube_weights(k: int) -> None:
    rng = np.random.default_rng(k)
    gx, gy = np.meshgrid(np.arange(7.0), np.arange(6.0))
    W = distance_band_weights(gx.ravel(), gy.ravel(), 1.5)
    T, N = 5, W.shape[0]
    cube = rng.poisson(2.0, size=(T, N)).astype(float)
    # bin (t, i) neighbours: (t', j) with j in band of i and t - k <= t' <= t
    lag = sum(sp.kron(sp.eye(T, k=-d), W) for d in range(k + 1))
    z_ref, p_ref = gi_star(cube.ravel(), lag.tocsr())
    z, p = space_time_gi_star(cube, W, time_window=k)
    np.testing.assert_allclose(z.ravel(), z_ref, atol=1e-12)
    np.testing.assert_allclose(p.ravel(), p_ref, atol=1e-12)


def _blocks(n: int = 30) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    gx, gy = np.meshgrid(np.arange(n), np.arange(n))
    ix, iy = gx.ravel(), gy.ravel()
    return ix, iy, distance_band_weights(ix.astype(float), iy.astype(float), 1.5)


def _block(ix: np.ndarray, iy: np.ndarray, x0: int, y0: int) -> np.ndarray:
    return (ix >= x0) & (ix < x0 + 3) & (iy >= y0) & (iy < y0 + 3)


def _centre(ix: np.ndarray, iy: np.ndarray, x0: int, y0: int) -> int:
    return int(np.flatnonzero((ix == x0 + 1) & (iy == y0 + 1))[0])


def test_hot_patterns() -> None:
    T = 20
    ix, iy, W = _blocks()
    rng = np.random.default_rng(1)
    cube = rng.poisson(1.0, size=(T, ix.size)).astype(float)
    t = np.arange(T)[:, None]
    plan = {  # block origin -> extra counts per step (T, 1)
        (1, 1): np.full((T, 1), 8.0),  # persistent
        (8, 1): 6.0 + 1.0 * t,  # intensifying
        (15, 1): np.round(25.0 - 0.9 * t),  # diminishing
        (22, 1): 25.0 * (t == T - 1),  # new
        (1, 10): 25.0 * (t >= T - 3),  # consecutive
        (8, 10): 10.0 * (t < T - 2),  # historical
        (15, 10): 25.0 * np.isin(t, [3, 9, 15, T - 1]),  # sporadic
    }
    for (x0, y0), extra in plan.items():
        cube[:, _block(ix, iy, x0, y0)] += extra
    res = emerging_hotspots(cube, W)
    got = {xy: str(res.categories[_centre(ix, iy, *xy)]) for xy in plan}
    assert got == {
        (1, 1): "persistent_hot_spot",
        (8, 1): "intensifying_hot_spot",
        (15, 1): "diminishing_hot_spot",
        (22, 1): "new_hot_spot",
        (1, 10): "consecutive_hot_spot",
        (8, 10): "historical_hot_spot",
        (15, 10): "sporadic_hot_spot",
    }
    i = _centre(ix, iy, 8, 1)
    assert res.trend_z[i] > 3 and res.count_trend_z[i] > 3
    assert res.z.shape == res.classes.shape == (T, ix.size)
    # the plain Poisson background far from the blocks has no pattern
    far = (ix >= 20) & (iy >= 20)
    assert (res.categories[far] == "no_pattern").mean() > 0.95
    summary = res.summary()
    assert set(summary) == set(CATEGORIES) and sum(summary.values()) == ix.size
    assert all(c in LABELS for c in CATEGORIES)


def test_cold_and_oscillating_patterns() -> None:
    T = 20
    ix, iy, W = _blocks()
    rng = np.random.default_rng(2)
    cube = rng.poisson(20.0, size=(T, ix.size)).astype(float)
    t = np.arange(T)
    persistent = _block(ix, iy, 1, 1)
    cube[:, persistent] = 0.0  # never anything here
    new = _block(ix, iy, 8, 1)
    cube[T - 1, new] = 0.0  # empty in the final step only
    oscillating = _block(ix, iy, 15, 1)
    cube[np.ix_(np.isin(t, [4, 5]), oscillating)] = 0.0  # cold early on
    cube[T - 1, oscillating] = 80.0  # hot at the end
    res = emerging_hotspots(cube, W)
    assert res.categories[_centre(ix, iy, 1, 1)] == "persistent_cold_spot"
    assert res.categories[_centre(ix, iy, 8, 1)] == "new_cold_spot"
    assert res.categories[_centre(ix, iy, 15, 1)] == "oscillating_hot_spot"


def test_emerging_52_weeks_by_27k_cells_is_quiet_on_noise() -> None:
    # how fast: bench/bench_hotspots_core.py (emerging_52x26896_s, goal <= 5 s)
    rng = np.random.default_rng(3)
    n = 164  # 164 x 164 = 26 896 cells
    gx, gy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    W = distance_band_weights(gx.ravel(), gy.ravel(), 1.5)
    cube = rng.poisson(0.05, size=(52, n * n)).astype(float)  # sparse weekly noise
    res = emerging_hotspots(cube, W)
    assert res.categories.shape == (n * n,)
    # pure noise: no significant bin, no pattern with the count law ...
    assert (res.classes == 0).all() and (res.categories == "no_pattern").all()
    # ... while the normal law of ArcGIS finds thousands of "significant" bins
    normal = emerging_hotspots(cube, W, p_method="normal")
    assert (normal.classes != 0).sum() > 1000
    assert res.params["p_method"] == "negbin" and normal.params["p_method"] == "normal"
