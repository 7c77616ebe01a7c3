"""Hot spots that hold on real data: the Boston 311 requests of 2015 (../shared/data), at 500 m
cells in Massachusetts State Plane (EPSG:26986) with a 750 m band, the default p-value method
and study area."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from geo.hotspots import gistar
from geo.hotspots.permutation import draw_rows
from geo.hotspots.run import HotspotQuery, fixed_cell_hotspots, run_hotspots, study_area_grid
from geo.infra.settings import PROJECT_ROOT

DATA = PROJECT_ROOT.parent / "shared" / "data" / "boston311_2015.parquet"
MAPPING = PROJECT_ROOT / "data" / "mappings" / "boston311.yaml"
QUERY = HotspotQuery(srid=26986, cell_size=500, band=750)


@pytest.fixture(scope="module")
def boston(make_database):
    """A database of its own holding the Boston file, imported as ``qala import-history`` does."""
    if not DATA.exists():
        pytest.fail(
            f"{DATA} is missing: these tests need the Boston 311 file of ../shared/data "
            "(see its README) beside the project"
        )
    from geo.city.catalog import load_categories
    from geo.imports.history import import_history
    from geo.infra.migrate import upgrade

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        load_categories(conn)
    import_history(engine, DATA, MAPPING, echo=lambda *_: None, progress=False)
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()
    yield engine, cid
    engine.dispose()


def test_boston_default_hot_spots_hold(boston):
    """No empty cell is a cold spot, every appeal is in a cell, and the classes follow the
    normal Benjamini-Hochberg classes: the same sign wherever both are significant and the
    same class on at least 90 % of cells (91.0 % on 2026-12-01: see
    test_boston_normal_p_values_are_not_accurate_at_these_counts for why not 95 %)."""
    engine, cid = boston
    with engine.connect() as conn:
        res = run_hotspots(conn, cid, QUERY)
        placed = conn.execute(
            text("SELECT count(*) FROM appeals WHERE city_id = :c AND NOT placeholder_geocode"),
            {"c": cid},
        ).scalar_one()
        raw = fixed_cell_hotspots(conn, cid, QUERY)
    p = res["params"]
    assert p["p_method"] == "permutation" and p["study_area"] == "incidents"
    assert p["cell_size"] == 500 and p["band"] == 750 and p["srid"] == 26986
    assert "p_rule" in p and "study_area_rule" in p and "band_rule" in p and "refine_rule" in p
    cells = res["cells"]
    assert sum(c["count"] for c in cells) == placed  # nobody dropped at the box edge
    assert not [c for c in cells if c["count"] == 0 and c["class"].startswith("cold")]
    z, cl = raw["z"], raw["classes"]
    normal = gistar.classify(z, gistar.two_sided_p(z))
    assert not ((cl * normal) < 0).any()
    agree = float((cl == normal).mean())
    assert agree >= 0.90, agree
    assert (normal == 3).sum() > 10 and (cl == 3).sum() > 5


def _boston_grid(boston):
    engine, cid = boston
    with engine.connect() as conn:
        return study_area_grid(conn, cid, QUERY, 500)


def test_boston_classes_do_not_depend_on_the_seed(boston):
    """With 999 permutations alone one seed in five moved 3-6 % of the cells to another class;
    the refining rounds decide every class but those within Monte-Carlo error of a line."""
    grid = _boston_grid(boston)
    W = gistar.grid_weights(grid, 750)
    x = grid.counts.astype(float)
    z, p0, stated = gistar.gi_star_p(x, W)
    _, p1, _ = gistar.gi_star_p(x, W, seed=1)
    c0, c1 = gistar.classify(z, p0), gistar.classify(z, p1)
    assert stated["n_cells_refined"] > 0
    assert (c0 != c1).sum() <= stated["n_cells_undecided"] + 1, ((c0 != c1).sum(), stated)


def test_boston_normal_p_values_are_not_accurate_at_these_counts(boston):
    """Where the classes and the normal disagree, the exact p-value of Gi*'s own null (every
    neighbourhood a random draw of k of the n cells: the mean and variance the z standardises
    with) is more than ten times away from the normal one: the disagreement is the normal's."""
    grid = _boston_grid(boston)
    W = gistar.grid_weights(grid, 750)
    x = grid.counts.astype(float)
    z, p, _ = gistar.gi_star_p(x, W)
    normal_p = gistar.two_sided_p(z)
    off = np.flatnonzero(gistar.classify(z, p) != gistar.classify(z, normal_p))
    assert off.size > 20
    k, obs = np.diff(W.indptr), W @ x
    rng = np.random.default_rng(0)
    exact = np.ones(x.size)
    draws = 100_000
    for kk in np.unique(k[off]):
        sums = np.sort(x[draw_rows(rng, draws, int(kk), x.size)].sum(axis=1))
        cells = off[k[off] == kk]
        ge = draws - np.searchsorted(sums, obs[cells], side="left")
        le = np.searchsorted(sums, obs[cells], side="right")
        exact[cells] = np.minimum(1.0, 2.0 * (np.minimum(ge, le) + 1) / (draws + 1))
    ratio = np.abs(np.log10(exact[off] / normal_p[off]))
    assert np.median(ratio) > 1.0, np.median(ratio)


def test_boston_import_counts_its_repeats_by_the_live_rule(boston):
    """Repeats are linked on import (the file's appeals are on no map object: by the radius),
    and a sample of ~350 appeals agrees with the live rule asked appeal by appeal: a repeat
    exactly when an earlier candidate exists, linked to the best one's root."""
    engine, cid = boston
    with engine.connect() as conn:
        linked = conn.execute(
            text("SELECT count(repeat_of_id) FROM appeals WHERE city_id = :c"), {"c": cid}
        ).scalar_one()
        sample = conn.execute(
            text("""
            SELECT a.id, a.repeat_of_id,
                   (SELECT coalesce(b.repeat_of_id, b.id)
                    FROM appeals b JOIN categories c ON c.code = a.category_code
                    WHERE b.city_id = a.city_id AND b.category_code = a.category_code
                      AND b.created_at >= a.created_at - make_interval(days => c.repeat_window_days)
                      AND (b.created_at, b.id) < (a.created_at, a.id)
                      AND b.status NOT IN ('rejected', 'duplicate') AND NOT b.placeholder_geocode
                      AND ST_DWithin(b.geom::geography, a.geom::geography, c.repeat_radius_m)
                    ORDER BY round(ST_Distance(b.geom::geography, a.geom::geography)::numeric, 1),
                             b.created_at, b.id
                    LIMIT 1) AS expected
            FROM appeals a
            WHERE a.city_id = :c AND NOT a.placeholder_geocode AND a.id % 300 = 7
            ORDER BY a.id LIMIT 400"""),
            {"c": cid},
        ).all()
    assert linked > 10_000
    assert len(sample) > 300
    assert sum(r.expected is not None for r in sample) > 50
    assert [r.repeat_of_id for r in sample] == [r.expected for r in sample]


def test_boston_city_study_area_never_makes_empty_cells_cold(boston):
    engine, cid = boston
    with engine.connect() as conn:
        res = run_hotspots(
            conn, cid, HotspotQuery(srid=26986, cell_size=500, band=750, study_area="city")
        )
    assert res["params"]["study_area"] == "city"
    assert not [
        c
        for c in res["cells"]
        if c["count"] == 0 and c["class"] != "not_significant" and c["class"].startswith("cold")
    ]
