"""Automatic parameters (geo.hotspots.ohsa): ISA, outliers, cell size, band (Moran's I vs esda:
tests/test_esda_agreement.py)."""

from __future__ import annotations

import numpy as np
import pytest

from geo.hotspots.gistar import distance_band_weights, grid_counts
from geo.hotspots.ohsa import (
    MIN_NEIGHBOURS,
    _nice_ceil,
    default_band,
    default_cell_size,
    incremental_spatial_autocorrelation,
    incremental_spatial_autocorrelation_lattice,
    locational_outliers,
    min_band_for_neighbours,
    morans_i,
    nearest_neighbor_distances,
)


def _lattice(nx: int, ny: int, cell: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    return (gx.ravel() + 0.5) * cell, (gy.ravel() + 0.5) * cell


def test_incremental_spatial_autocorrelation_equals_moran_per_band() -> None:
    rng = np.random.default_rng(1)
    cx, cy = _lattice(25, 25)
    y = rng.poisson(1.0 + 4.0 * np.exp(-((cx - 1200) ** 2 + (cy - 1300) ** 2) / 4e5))
    bands = np.array([150.0, 200.0, 250.0, 400.0, 650.0])  # 200: exact lattice distance
    isa = incremental_spatial_autocorrelation(cx, cy, y, bands)
    for t, band in enumerate(bands):
        W = distance_band_weights(cx, cy, band, include_self=False)
        ref = morans_i(y, W)
        assert isa.I[t] == pytest.approx(ref.I, abs=1e-12)
        assert isa.variance[t] == pytest.approx(ref.variance, rel=1e-10)
        assert isa.z[t] == pytest.approx(ref.z, abs=1e-9)
        assert isa.mean_neighbours[t] == pytest.approx(W.nnz / cx.size)
    with pytest.raises(ValueError):
        incremental_spatial_autocorrelation(cx, cy, y, [300.0, 200.0])


def test_lattice_isa_equals_generic_on_a_grid_with_holes() -> None:
    rng = np.random.default_rng(6)
    x = np.r_[rng.uniform(0, 6000, 1500), rng.normal(2000, 300, 400), [9000.0]]
    y = np.r_[rng.uniform(0, 6000, 1500), rng.normal(4000, 300, 400), [9000.0]]
    g = grid_counts(x, y, 150.0, origin=(37.0, -11.0), max_distance=300.0)
    assert g.n_cells < (np.ptp(g.ix) + 1) * (np.ptp(g.iy) + 1)  # cells were trimmed: holes
    bands = 150.0 * (1.5 + np.arange(10))
    a = incremental_spatial_autocorrelation(g.cx, g.cy, g.counts, bands)
    b = incremental_spatial_autocorrelation_lattice(g.ix, g.iy, g.counts, bands, 150.0)
    np.testing.assert_allclose(b.I, a.I, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.z, a.z, rtol=1e-10)
    np.testing.assert_array_equal(b.mean_neighbours, a.mean_neighbours)
    choice = default_band(g.cx, g.cy, g.counts, 150.0, ix=g.ix, iy=g.iy)
    assert choice.band == default_band(g.cx, g.cy, g.counts, 150.0).band


def test_locational_outliers() -> None:
    cx, cy = _lattice(10, 10, 10.0)
    x = np.r_[cx, 2000.0, cx[:20]]  # a far point, and 20 coincident duplicates
    y = np.r_[cy, 2000.0, cy[:20]]
    out = locational_outliers(x, y)
    assert np.flatnonzero(out).tolist() == [100]
    # duplicates (distance 0) do not turn ordinary points into outliers
    assert nearest_neighbor_distances(x, y)[:20].max() == 0
    assert not locational_outliers(cx, cy).any()
    assert not locational_outliers(np.zeros(5), np.zeros(5)).any()


def test_nice_ceil() -> None:
    assert _nice_ceil(237.4) == 240
    assert _nice_ceil(240.0) == 240
    assert _nice_ceil(1234.0) == 1300
    assert _nice_ceil(0.01234) == pytest.approx(0.013)


def test_default_cell_size_from_spacing_and_cap() -> None:
    cx, cy = _lattice(50, 50, 10.0)  # nearest neighbour 10 -> 2 x 10
    cell, rule = default_cell_size(cx, cy)
    assert cell == 20.0 and "nearest-neighbour" in rule
    # so many points that 2 x NN would give > max_cells cells: capped by the extent
    cell, rule = default_cell_size(cx, cy, max_cells=100)
    assert cell == pytest.approx(_nice_ceil(490 / 10)) and "cap" in rule
    gc = grid_counts(cx, cy, cell)
    assert gc.n_cells <= 121  # about max_cells: grid alignment adds at most a row and column


def test_min_band_for_neighbours() -> None:
    cx, cy = _lattice(10, 10)
    band = min_band_for_neighbours(cx, cy)
    assert band == pytest.approx(100 * 2 * np.sqrt(2))
    W = distance_band_weights(cx, cy, band, include_self=False)
    assert np.diff(W.indptr).min() >= MIN_NEIGHBOURS


def test_default_band_picks_first_significant_peak() -> None:
    # blobs of radius ~3 cells spaced 12 cells apart: clustering peaks at a few cells
    cx, cy = _lattice(48, 48)
    centres = [(x, y) for x in (600, 1800, 3000, 4200) for y in (600, 1800, 3000, 4200)]
    y = np.zeros(cx.size)
    for a, b in centres:
        y += 10 * np.exp(-((cx - a) ** 2 + (cy - b) ** 2) / (2 * 200.0**2))
    y = np.random.default_rng(2).poisson(0.3 + y).astype(float)
    choice = default_band(cx, cy, y, 100.0)
    z = choice.isa.z
    t = int(np.flatnonzero(choice.isa.distances == choice.band)[0])
    assert "first peak" in choice.rule
    assert 0 < t < len(z) - 1 and z[t] >= z[t - 1] and z[t] > z[t + 1] and z[t] > 1.96
    # no earlier significant peak
    assert not any(z[s] >= z[s - 1] and z[s] > z[s + 1] and z[s] > 1.96 for s in range(1, t))


def test_default_band_falls_back_without_clustering() -> None:
    cx, cy = _lattice(30, 30)
    y = np.zeros(cx.size)
    y[[100, 465, 800]] = 4.0  # isolated spikes: Moran's I is about its expectation
    choice = default_band(cx, cy, y, 100.0)
    assert "no significant" in choice.rule
    assert choice.band == pytest.approx(min_band_for_neighbours(cx, cy))


def test_default_band_uses_maximum_when_z_keeps_rising() -> None:
    cx, cy = _lattice(40, 40)
    y = np.random.default_rng(4).poisson(1.0 + 3.0 * (cx > 2000)).astype(float)  # two halves
    choice = default_band(cx, cy, y, 100.0)
    assert (np.diff(choice.isa.z) > 0).all()  # z grows with the band: no interior peak
    assert "maximum" in choice.rule
    assert choice.band == choice.isa.distances[-1] == 1050.0
