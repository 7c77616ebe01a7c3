"""Gi* core (geo.hotspots.gistar): FDR, grids, planted and absent hot spots (agreement with esda:
tests/test_esda_agreement.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from geo.hotspots.gistar import (
    HotspotResult,
    classify,
    distance_band_weights,
    fdr_bh,
    gi_star,
    grid_counts,
    grid_weights,
    hotspots,
    negbin_p,
)

# The lattice of esda's own test_getisord.py (also in tests/test_esda_agreement.py).
POINTS = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)], dtype=float)
Y = np.array([2, 3, 3.2, 5, 8, 7])


def test_gi_star_general_weights_and_degenerate_cases() -> None:
    # constant values: z undefined -> 0, p 1
    W = distance_band_weights(POINTS[:, 0], POINTS[:, 1], 15)
    z, p = gi_star(np.ones(6), W)
    assert (z == 0).all() and (p == 1).all()
    # scaled binary weights give the same z (Gi* is scale invariant in w)
    z1, _ = gi_star(Y, W)
    z2, _ = gi_star(Y, 2.5 * W)
    np.testing.assert_allclose(z1, z2, atol=1e-12)
    with pytest.raises(ValueError):
        gi_star(Y[:5], W)


def test_distance_band_weights_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 100, 300), rng.uniform(0, 100, 300)
    W = distance_band_weights(x, y, 12.0, include_self=False)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    expected = (d <= 12.0) & ~np.eye(300, dtype=bool)
    np.testing.assert_array_equal(W.toarray() == 1, expected)
    assert (W != W.T).nnz == 0
    # lattice distances exactly at the threshold are kept despite rounding
    g = grid_counts(np.array([0.1, 1.9]), np.array([0.1, 1.9]), 0.1)
    Wg = distance_band_weights(g.cx, g.cy, 0.2)
    assert int(np.diff(Wg.indptr).max()) == 13  # 12 neighbours within 2 cells + self


@pytest.mark.parametrize("radius", [1.0, 1.5, 2.0, 2.5, 5.0])
@pytest.mark.parametrize("include_self", [True, False])
def test_grid_weights_equal_distance_band_weights(radius: float, include_self: bool) -> None:
    rng = np.random.default_rng(9)
    x = np.r_[rng.uniform(0, 3000, 400), rng.normal(900, 100, 100)]
    y = np.r_[rng.uniform(0, 2000, 400), rng.normal(700, 100, 100)]
    g = grid_counts(x, y, 100.0, origin=(13.0, 7.0), max_distance=150.0)  # with holes
    a = distance_band_weights(g.cx, g.cy, radius * 100.0, include_self)
    b = grid_weights(g, radius * 100.0, include_self)
    assert b.has_sorted_indices and (a != b).nnz == 0
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)


def test_grid_counts_keeps_empty_cells_and_maps_points() -> None:
    x = np.array([1.0, 2.0, 12.0, 31.0, np.nan])
    y = np.array([1.0, 1.0, 1.0, 25.0, 0.0])
    g = grid_counts(x, y, 10.0)
    assert g.n_cells == 4 * 3  # columns 0..3, rows 0..2, zeros included
    assert g.counts.sum() == 4 and (g.counts == 0).sum() == 9
    np.testing.assert_array_equal(g.counts[g.point_cell[:4]], [2, 2, 1, 1])
    assert g.point_cell[4] == -1
    assert (g.cx[g.point_cell[3]], g.cy[g.point_cell[3]]) == (35.0, 25.0)
    # grid lines anchored at the origin: ix/iy are stable global indices
    g2 = grid_counts(x + 1000, y - 1000, 10.0)
    np.testing.assert_array_equal(g2.ix - 100, g.ix)
    np.testing.assert_array_equal(g2.iy + 100, g.iy)
    # a shifted anchor
    g3 = grid_counts(x, y, 10.0, origin=(5.0, 5.0))
    assert g3.cx.min() == 0.0 and g3.counts.sum() == 4
    # an explicit extent drops points outside it
    g4 = grid_counts(x, y, 10.0, extent=(0, 0, 19.9, 9.9))
    assert g4.n_cells == 2 and g4.counts.tolist() == [2, 1] and g4.point_cell[3] == -1


def test_grid_counts_max_distance_trims_far_empty_cells() -> None:
    x = np.array([5.0, 995.0])
    y = np.array([5.0, 995.0])
    full = grid_counts(x, y, 10.0)
    trimmed = grid_counts(x, y, 10.0, max_distance=15.0)
    assert full.n_cells == 10_000
    assert trimmed.n_cells == 8  # 4 cells (incl. diagonal at 14.1) around each corner point
    assert trimmed.counts.sum() == 2
    assert (trimmed.counts[trimmed.point_cell] == 1).all()


# Benjamini & Hochberg step-up, checked by hand (m = 10, alpha = 0.05: k * 0.005):
#   sorted p 0.001 0.008 0.039 0.041 0.042 0.060 0.074 0.205 0.212 0.216
#   limits   0.005 0.010 0.015 0.020 0.025 0.030 0.035 0.040 0.045 0.050
#   -> p(1), p(2) pass and no later one does: 2 discoveries.
BH_P = np.array([0.205, 0.001, 0.042, 0.216, 0.008, 0.039, 0.060, 0.212, 0.041, 0.074])


def test_fdr_bh_hand_checked() -> None:
    np.testing.assert_array_equal(np.flatnonzero(fdr_bh(BH_P, 0.05)), [1, 4])
    # step-up: m = 5, limits .01 .02 .03 .04 .05; p(2), p(3) fail but p(4) = .032 passes,
    # so the first four are all discoveries.
    p = np.array([0.9, 0.032, 0.001, 0.031, 0.03])
    np.testing.assert_array_equal(fdr_bh(p, 0.05), [False, True, True, True, True])
    # nothing passes
    assert not fdr_bh(np.array([0.2, 0.5, 0.9]), 0.05).any()
    # NaN is never significant and shape is kept
    p2 = np.array([[0.001, np.nan], [0.5, 0.002]])
    np.testing.assert_array_equal(fdr_bh(p2, 0.05), [[True, False], [False, True]])


def test_fdr_bh_matches_scipy_adjusted_p() -> None:
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(size=900), rng.uniform(0, 1e-3, size=100)])
    adjusted = stats.false_discovery_control(p, method="bh")
    for alpha in (0.01, 0.05, 0.10):
        np.testing.assert_array_equal(fdr_bh(p, alpha), adjusted <= alpha)


def test_classify_levels_with_and_without_fdr() -> None:
    z = np.array([3.0, -2.2, 1.8, 0.3, -2.9])
    p = stats.norm.sf(np.abs(z)) * 2
    np.testing.assert_array_equal(classify(z, p, fdr=False), [3, -2, 1, 0, -3])
    # with FDR (m = 5): BH sets at .01/.05/.10 are nested and never larger than the raw ones
    with_fdr = classify(z, p, fdr=True)
    expected = np.zeros(5, dtype=int)
    for level, alpha in ((1, 0.10), (2, 0.05), (3, 0.01)):
        expected[fdr_bh(p, alpha)] = level
    np.testing.assert_array_equal(with_fdr, expected * np.sign(z))
    assert (np.abs(with_fdr) <= np.abs(classify(z, p, fdr=False))).all()
    assert with_fdr.dtype == np.int8


def _planted(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    centre = (6_200.0, 3_900.0)
    bx, by = rng.uniform(0, 10_000, 3000), rng.uniform(0, 10_000, 3000)
    cx, cy = rng.normal(centre[0], 80, 150), rng.normal(centre[1], 80, 150)
    return np.r_[bx, cx], np.r_[by, cy], centre


def test_planted_hotspot_is_found_at_99_percent() -> None:
    x, y, centre = _planted(11)
    res = hotspots(x, y)
    assert isinstance(res, HotspotResult)
    g = res.grid
    k = int(np.argmin(np.hypot(g.cx - centre[0], g.cy - centre[1])))
    assert res.classes[k] == 3
    assert res.z[k] > 5
    # hot cells are all near the plant; there are no cold spots in a uniform background
    hot = res.classes > 0
    assert np.hypot(g.cx[hot] - centre[0], g.cy[hot] - centre[1]).max() < 1_500
    assert (res.classes >= 0).all()
    prm = res.params
    for key in (
        "cell_size",
        "band",
        "n_points",
        "n_outliers_removed",
        "n_cells",
        "cell_size_rule",
        "band_rule",
        "outlier_rule",
        "mask_rule",
    ):
        assert key in prm
    assert prm["n_points"] == 3150 and prm["n_cells"] == g.n_cells
    assert prm["n_points_used"] + prm["n_outliers_removed"] == 3150
    assert res.n_neighbors.min() >= 1 and res.isa is not None


def test_fixed_parameters_are_reported_as_given() -> None:
    x, y, _ = _planted(5)
    res = hotspots(
        x, y, cell_size=400.0, band=900.0, fdr=False, remove_outliers=False, mask_distance=None
    )
    assert res.params["cell_size_rule"] == "given" and res.params["band_rule"] == "given"
    assert res.params["n_outliers_removed"] == 0 and res.isa is None
    assert res.grid.cell_size == 400.0 and res.params["band"] == 900.0
    assert res.grid.counts.sum() == 3150
    assert res.params["neighbours_max"] == 21  # radius 2.25 cells: 21 cells incl. self


def test_negbin_p_uses_the_moments_of_gi_star() -> None:
    rng = np.random.default_rng(8)
    values = rng.negative_binomial(0.5, 0.5 / 1.5, size=400).astype(float)  # mean 1, overdispersed
    n, w = values.size, 9
    m = w * values.mean()
    v = w * values.var() * (n - w) / (n - 1)  # Gi*'s variance of a neighbourhood sum
    r = m * m / (v - m)
    law = stats.nbinom(r, r / (r + m))
    assert law.mean() == pytest.approx(m) and law.var() == pytest.approx(v)
    sums = np.array([0.0, 3.0, 9.0, 20.0, 40.0])
    expected = [min(1.0, 2 * (law.sf(s - 1) if s > m else law.cdf(s))) for s in sums]
    np.testing.assert_allclose(negbin_p(sums, w, values), expected, rtol=1e-10)
    # counts with variance <= mean: the Poisson law with Gi*'s mean
    flat = np.r_[np.ones(300), np.zeros(10), 2 * np.ones(10)]
    m = w * flat.mean()
    np.testing.assert_allclose(
        negbin_p(np.array([20.0, 2.0]), w, flat),
        [2 * stats.poisson.sf(19, m), 2 * stats.poisson.cdf(2, m)],
    )
    with pytest.raises(ValueError):
        negbin_p(sums, w, values + 0.5)


def test_negbin_p_is_closer_to_the_permutation_law_than_the_normal() -> None:
    # 0/1 values: a neighbourhood sum of w of them, drawn without replacement, is exactly
    # hypergeometric -- the randomisation law whose mean and variance Gi* uses.
    n, ones, w = 2000, 100, 25
    values = np.r_[np.ones(ones), np.zeros(n - ones)]
    hyper = stats.hypergeom(n, ones, w)
    for s in (5, 6, 7, 8):
        exact = 2 * hyper.sf(s - 1)
        count = negbin_p(np.array([float(s)]), w, values)[0]
        normal = 2 * stats.norm.sf((s - hyper.mean()) / hyper.std())
        assert abs(np.log(count / exact)) < abs(np.log(normal / exact)) / 2


def test_p_methods_of_gi_star_and_hotspots() -> None:
    x, y, _ = _planted(2)
    res = hotspots(x, y, cell_size=300.0, band=700.0, p_method="normal")
    W = distance_band_weights(res.grid.cx, res.grid.cy, 700.0)
    z, p = gi_star(res.grid.counts, W)
    np.testing.assert_array_equal(res.z, z)
    np.testing.assert_array_equal(res.p, p)
    assert res.params["p_method"] == "normal"
    nb = hotspots(x, y, cell_size=300.0, band=700.0, p_method="negbin")
    assert nb.params["p_method"] == "negbin"
    np.testing.assert_array_equal(nb.z, z)
    _, p_nb = gi_star(res.grid.counts, W, p_method="negbin")
    np.testing.assert_array_equal(nb.p, p_nb)
    counts = res.grid.counts
    np.testing.assert_allclose(p_nb, negbin_p(W @ counts, np.diff(W.indptr), counts))
    # counts are right-skewed: hot tails get larger p-values than the normal ones
    hot = z > 3
    assert hot.any() and (p_nb[hot] > p[hot]).all()
    with pytest.raises(ValueError):
        gi_star(res.grid.counts, 2 * W, p_method="negbin")
    with pytest.raises(ValueError):
        gi_star(res.grid.counts, W, p_method="exact")
    default = hotspots(x, y, cell_size=300.0, band=700.0)
    assert default.params["p_method"] == "permutation" and default.params["permutations"] == 999
    np.testing.assert_array_equal(default.z, z)  # the z-scores do not depend on the method


def test_uniform_points_rarely_survive_fdr() -> None:
    with_spots = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        res = hotspots(rng.uniform(0, 10_000, 2000), rng.uniform(0, 10_000, 2000))
        with_spots += bool((res.classes != 0).any())
    assert with_spots <= 1


def test_too_few_points_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 30"):
        hotspots(np.arange(10.0), np.arange(10.0))
