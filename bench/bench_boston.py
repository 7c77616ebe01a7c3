"""Hot spots of the real Boston 311 requests of 2015 (../shared/data), after the #3 import,
with the City Hall placeholder geocode left out: one run with the default parameters (chosen
from the data) and one with 500 m cells and a 750 m band in Massachusetts State Plane
(EPSG:26986). The top cells and their counts go to RESULTS.md."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.harness import record
from geo.hotspots.run import HotspotQuery, run_hotspots
from geo.imports.history import import_history
from geo.infra.settings import PROJECT_ROOT

DATA = PROJECT_ROOT.parent / "shared" / "data" / "boston311_2015.parquet"
MAPPING = PROJECT_ROOT / "data" / "mappings" / "boston311.yaml"
_SECTION: dict[str, str] = {}


def _top(res: dict, k: int = 10) -> str:
    hot = sorted((c for c in res["cells"] if c["class"].startswith("hot")), key=lambda c: -c["z"])[
        :k
    ]
    rows = ["| # | cell centre (lat, lon) | appeals | z | class |", "|---|---|---|---|---|"]
    rows += [
        f"| {i} | {c['lat']:.4f}, {c['lon']:.4f} | {c['count']} | {c['z']:.2f} | {c['class']} |"
        for i, c in enumerate(hot, 1)
    ]
    return "\n".join(rows)


def run(ctx) -> list[dict]:
    if not Path(DATA).exists():
        raise FileNotFoundError(f"{DATA} is not there (../shared/data beside the project)")
    url = ctx.make_database()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    report = import_history(engine, DATA, MAPPING, echo=lambda *_: None, progress=False)
    out = [
        record(
            "boston_import_rows",
            report.imported,
            "rows",
            ctx.command,
            detail=f"of {report.rows_read} read",
        )
    ]
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()
        placeholders = conn.execute(
            text("SELECT count(*) FROM appeals WHERE city_id = :c AND placeholder_geocode"),
            {"c": cid},
        ).scalar_one()
        runs = {
            "default parameters (chosen from the data)": HotspotQuery(srid=26986),
            "500 m cells, 750 m band, EPSG:26986": HotspotQuery(
                srid=26986, cell_size=500, band=750, study_area="incidents"
            ),
        }
        text_parts = [
            f"Boston 311, 2015: {report.imported:,} requests imported, "
            f"{placeholders:,} on the City Hall placeholder left out of both runs."
        ]
        for title, q in runs.items():
            t0 = time.perf_counter()
            res = run_hotspots(conn, cid, q)
            dt = time.perf_counter() - t0
            p = res["params"]
            out.append(
                record(
                    f"boston_hotspots_{'default' if q.cell_size is None else '500m'}_s",
                    dt,
                    "s",
                    ctx.command,
                    detail=f"cell {p['cell_size']} m, band {p['band']} m, {p['n_cells']} cells",
                )
            )
            s = res["summary"]
            text_parts.append(
                f"### {title}\n\ncell size {p['cell_size']} m ({p.get('cell_size_rule')}); "
                f"band {p['band']} m ({p.get('band_rule')}); {p['n_cells']:,} cells; "
                f"{p['n_points_used']:,} appeals used, {p['n_outliers_removed']} locational "
                f"outliers removed; FDR on. Hot 99/95/90 %: {s['hot_99']}/{s['hot_95']}/"
                f"{s['hot_90']} cells; cold 99/95/90 %: {s['cold_99']}/{s['cold_95']}/"
                f"{s['cold_90']}.\n\nTop hot cells:\n\n{_top(res)}"
            )
    engine.dispose()
    _SECTION["Boston 311 hot spots"] = "\n\n".join(text_parts)
    return out


def section() -> dict[str, str]:
    return dict(_SECTION)
