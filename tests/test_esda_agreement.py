"""Agreement with esda and libpysal, the reference implementations (PySAL), of the Gi* core
(geo.hotspots.gistar) and Moran's I and its incremental form (geo.hotspots.ohsa).

Only these tests need esda: the rest of the hot-spot tests are in tests/test_gistar.py and
tests/test_ohsa.py. A missing esda fails them with what to install; it never skips them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest
import scipy.sparse as sp

from geo.hotspots.gistar import distance_band_weights, gi_star
from geo.hotspots.ohsa import incremental_spatial_autocorrelation, morans_i

# The lattice of esda's own test_getisord.py.
POINTS = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)], dtype=float)
Y = np.array([2, 3, 3.2, 5, 8, 7])


def _require(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        problem = str(exc)
    pytest.fail(
        f"{name} is missing ({problem}): it is a test dependency of pyproject.toml's `dev` "
        "extra; install it with `make install` (or .venv/bin/pip install -e '.[dev]')",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def esda() -> ModuleType:
    return _require("esda")


@pytest.fixture(scope="module")
def libpysal() -> ModuleType:
    _require("libpysal.weights")
    return _require("libpysal")


def _lattice(nx: int, ny: int, cell: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    return (gx.ravel() + 0.5) * cell, (gy.ravel() + 0.5) * cell


def _esda_gstar(esda: ModuleType, y: np.ndarray, w) -> object:
    return esda.G_Local(y, w, transform="B", star=True, permutations=0)


def test_gi_star_equals_esda_on_esda_test_points(esda, libpysal) -> None:
    w = libpysal.weights.DistanceBand(POINTS, threshold=15, silence_warnings=True)
    assert w.sparse.diagonal().sum() == 0  # esda adds the self-weight itself when star=True
    ref = _esda_gstar(esda, Y, w)
    W = distance_band_weights(POINTS[:, 0], POINTS[:, 1], 15)
    assert (W.diagonal() == 1).all()
    z, p = gi_star(Y, W)
    np.testing.assert_allclose(z, ref.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(z[0], -1.39727626, atol=1e-8)  # esda's published value
    # esda's p_norm is one-sided: ours is twice it
    np.testing.assert_allclose(p, 2 * ref.p_norm, rtol=1e-12, atol=1e-15)


def test_gi_star_equals_esda_on_a_grid_of_3000_cells(esda, libpysal) -> None:
    rng = np.random.default_rng(42)
    gx, gy = np.meshgrid(np.arange(60), np.arange(50))
    cell = 250.0
    cx, cy = 400_000 + (gx.ravel() + 0.5) * cell, 4_700_000 + (gy.ravel() + 0.5) * cell
    bump = 6 * np.exp(-((cx - cx.mean()) ** 2 + (cy - cy.mean()) ** 2) / (2 * 1500.0**2))
    y = rng.poisson(0.8 + bump).astype(float)
    threshold = 2.5 * cell
    w = libpysal.weights.DistanceBand(
        np.column_stack([cx, cy]), threshold=threshold, silence_warnings=True
    )
    W = distance_band_weights(cx, cy, threshold)
    # same neighbours as libpysal, plus the diagonal
    diff = (W - (w.sparse + sp.identity(len(y)))).tocsr()
    diff.eliminate_zeros()
    assert diff.nnz == 0
    z, p = gi_star(y, W)
    ref = _esda_gstar(esda, y, w)
    assert np.abs(z).max() > 5  # the bump is really there
    np.testing.assert_allclose(z, ref.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p, 2 * ref.p_norm, rtol=1e-9, atol=1e-15)


def test_morans_i_equals_esda_moran(esda, libpysal) -> None:
    rng = np.random.default_rng(0)
    cx, cy = _lattice(20, 15)
    y = rng.poisson(2.0 + 3.0 * (cx < 800), size=cx.size).astype(float)
    w = libpysal.weights.DistanceBand(
        np.column_stack([cx, cy]), threshold=250, silence_warnings=True
    )
    ref = esda.Moran(y, w, transformation="b", permutations=0)
    got = morans_i(y, distance_band_weights(cx, cy, 250, include_self=False))
    assert abs(got.I - ref.I) < 1e-12
    assert got.expected == pytest.approx(ref.EI, abs=1e-15)
    assert got.variance == pytest.approx(ref.VI_norm, rel=1e-10)
    assert got.z == pytest.approx(ref.z_norm, abs=1e-9)
    assert got.p == pytest.approx(ref.p_norm, rel=1e-9, abs=1e-300)
    assert got.z > 3  # the left part is busier: clustered


def test_morans_i_equals_esda_on_irregular_points(esda, libpysal) -> None:
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 1000, size=(120, 2))
    y = rng.normal(size=120) + pts[:, 0] / 500
    w = libpysal.weights.DistanceBand(pts, threshold=180, silence_warnings=True)
    ref = esda.Moran(y, w, transformation="b", permutations=0)
    got = morans_i(y, distance_band_weights(pts[:, 0], pts[:, 1], 180, include_self=False))
    assert abs(got.I - ref.I) < 1e-12
    assert got.z == pytest.approx(ref.z_norm, abs=1e-9)


def test_incremental_spatial_autocorrelation_equals_esda_for_one_band(esda, libpysal) -> None:
    rng = np.random.default_rng(1)
    cx, cy = _lattice(25, 25)
    y = rng.poisson(1.0 + 4.0 * np.exp(-((cx - 1200) ** 2 + (cy - 1300) ** 2) / 4e5))
    bands = np.array([150.0, 200.0, 250.0, 400.0, 650.0])
    isa = incremental_spatial_autocorrelation(cx, cy, y, bands)
    w = libpysal.weights.DistanceBand(
        np.column_stack([cx, cy]), threshold=400, silence_warnings=True
    )
    assert isa.z[3] == pytest.approx(
        esda.Moran(y, w, transformation="b", permutations=0).z_norm, abs=1e-9
    )
