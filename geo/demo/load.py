"""Writing the demo city into the database: the generated map (:mod:`geo.demo.city`) with
the categories, all in the caller's transaction.
"""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, insert, text

from geo.city.address import search_text
from geo.city.catalog import _insert, load_categories
from geo.demo import city as demo
from geo.kb.seed import seed_city
from geo.models import (
    Building,
    City,
    District,
    Organisation,
    Street,
    Well,
    Yard,
    YardBuilding,
)


def _geom(g, multi: bool = True):
    g = demo.as_wgs84(g)
    return from_shape(demo.multi(g) if multi else g, srid=4326)


def load_demo_city(
    conn: Connection, seed: int = 2026, code: str = demo.CITY_CODE, echo=lambda *_: None
) -> dict[str, int]:
    """Generate the demo city from ``seed`` and write it, all in the caller's transaction."""
    load_categories(conn)
    city = demo.generate_city(seed)
    cid = conn.execute(
        insert(City)
        .values(
            code=code,
            name_ru="Петропавловск (демо)",
            name_kk="Петропавл (демо)",
            name_en="Petropavlovsk (demo)",
            metric_srid=demo.METRIC_SRID,
            timezone="Asia/Almaty",
            bounds=_geom(city.bounds),
            synthetic=True,
            note=f"Synthetic demo city generated with seed {seed}: not real data.",
        )
        .returning(City.id)
    ).scalar_one()
    echo(f"city {code} (id {cid}), seed {seed}")

    org_ids = _insert(
        conn,
        Organisation,
        [
            {
                "city_id": cid,
                "kind": o.kind,
                "name_ru": o.attrs["name_ru"],
                "name_kk": o.attrs["name_kk"],
                "phone": f"+7 7152 {40 + i:02d}-{10 + i:02d}-{i:02d}",
                "manager": demo.MANAGERS[i % len(demo.MANAGERS)],
                "service_area": _geom(o.geom) if o.geom is not None else None,
            }
            for i, o in enumerate(city.organisations)
        ],
    )
    _insert(
        conn,
        District,
        [
            {
                "city_id": cid,
                "name_ru": d.attrs["name_ru"],
                "name_kk": d.attrs["name_kk"],
                "geom": _geom(d.geom),
            }
            for d in city.districts
        ],
    )
    street_ids = _insert(
        conn,
        Street,
        [
            {
                "city_id": cid,
                "name_ru": s.attrs["name_ru"],
                "name_kk": s.attrs["name_kk"],
                "kind": s.attrs["kind"],
                "geom": _geom(s.geom),
            }
            for s in city.streets
        ],
    )

    rows = []
    for b in city.buildings:
        st = city.streets[b.attrs["street"]]
        num = b.attrs["house_number"]
        address_ru = f"{st.attrs['name_ru']}, {num}"
        address_kk = f"{st.attrs['name_kk']}, {num}"
        org = b.attrs["housing_org"]
        rows.append(
            {
                "city_id": cid,
                "street_id": street_ids[b.attrs["street"]],
                "house_number": num,
                "address_ru": address_ru,
                "address_kk": address_kk,
                "search_text": search_text(address_ru, address_kk, num),
                "kind": b.kind,
                "apartments": b.attrs["apartments"],
                "floors": b.attrs["floors"],
                "year_built": b.attrs["year_built"],
                "housing_org_id": org_ids[org] if org is not None else None,
                "geom": _geom(b.geom),
            }
        )
    building_ids = _insert(conn, Building, rows)
    yard_ids = _insert(
        conn,
        Yard,
        [
            {
                "city_id": cid,
                "surface": y.attrs["surface"],
                "last_repair_year": y.attrs["last_repair_year"],
                "repair_status": "queued",
                "geom": _geom(y.geom),
            }
            for y in city.yards
        ],
    )
    conn.execute(
        insert(YardBuilding),
        [
            {"city_id": cid, "yard_id": yard_ids[y], "building_id": building_ids[b]}
            for y, b in city.yard_buildings
        ],
    )
    # a yard is named after the first building it serves
    conn.execute(
        text("""
        UPDATE yards y SET name = 'Двор: ' || b.address_ru
        FROM (SELECT DISTINCT ON (yb.yard_id) yb.city_id, yb.yard_id, b.address_ru
              FROM yard_buildings yb JOIN buildings b
                ON b.city_id = yb.city_id AND b.id = yb.building_id
              WHERE yb.city_id = :c ORDER BY yb.yard_id, b.apartments DESC, b.id) b
        WHERE y.city_id = b.city_id AND y.id = b.yard_id"""),
        {"c": cid},
    )
    _insert(
        conn,
        Well,
        [
            {
                "city_id": cid,
                "code": w.attrs["code"],
                "kind": w.kind,
                "owner_id": org_ids[w.attrs["owner"]],
                "yard_id": yard_ids[w.attrs["yard"]] if w.attrs["yard"] is not None else None,
                "geom": _geom(w.geom, multi=False),
            }
            for w in city.wells
        ],
    )
    counts = {
        "organisations": len(org_ids),
        "districts": len(city.districts),
        "streets": len(street_ids),
        "buildings": len(building_ids),
        "yards": len(yard_ids),
        "wells": len(city.wells),
        "knowledge base articles": seed_city(conn, cid),
        "city_id": cid,
    }
    echo(", ".join(f"{k}: {v}" for k, v in counts.items() if k != "city_id"))
    return counts
