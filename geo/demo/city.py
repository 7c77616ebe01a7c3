"""A synthetic, Petropavlovsk-like demo city, generated deterministically from a seed.

It stands at the real city's place (54.87 N, 69.15 E) and is labelled synthetic in the
``cities`` table: microdistricts of 5- and 9-storey panel buildings around yards, quarters of
private houses, wells in yards with their owners, a street grid with Russian/Kazakh names,
districts, the kinds of organisations the 109 articles list, and the categories of
``geo/city/categories.yaml``. Geometry is built in the city's UTM zone (EPSG:32642) and stored
in WGS 84.

>>> city = generate_city(seed=7)
>>> 1200 <= sum(b.kind == "apartment" for b in city.buildings) <= 2000
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import Transformer
from shapely import Point, box
from shapely.geometry import GeometryCollection, LineString, MultiLineString, MultiPolygon, Polygon

CITY_CODE = "PET"
CENTRE_LONLAT = (69.15, 54.87)
METRIC_SRID = 32642
BLOCK = 400.0  # street grid spacing, m
STREET_HALF = 12.0  # half the width of a street corridor, m
N_BLOCKS_X, N_BLOCKS_Y = 16, 14  # 6.4 km x 5.6 km

# (ru name, kk name, ru kind, kk kind); kinds: проспект/даңғылы, улица/көшесі
STREET_NAMES = [
    ("Абая", "Абай", "проспект", "даңғылы"),
    ("Конституции Казахстана", "Қазақстан Конституциясы", "улица", "көшесі"),
    ("Жамбыла", "Жамбыл", "улица", "көшесі"),
    ("Интернациональная", "Интернационал", "улица", "көшесі"),
    ("Букетова", "Бөкетов", "улица", "көшесі"),
    ("Жумабаева", "Жұмабаев", "улица", "көшесі"),
    ("Ауэзова", "Әуезов", "улица", "көшесі"),
    ("Пушкина", "Пушкин", "улица", "көшесі"),
    ("Мусрепова", "Мүсірепов", "улица", "көшесі"),
    ("Победы", "Жеңіс", "проспект", "даңғылы"),
    ("Ташкентская", "Ташкент", "улица", "көшесі"),
    ("Уалиханова", "Уәлиханов", "улица", "көшесі"),
    ("Сатпаева", "Сәтбаев", "улица", "көшесі"),
    ("Назарбаева", "Назарбаев", "улица", "көшесі"),
    ("Caкена Сейфуллина", "Сәкен Сейфуллин", "улица", "көшесі"),
    ("Мира", "Бейбітшілік", "улица", "көшесі"),
    ("Шокана", "Шоқан", "улица", "көшесі"),
    ("Кошукова", "Кошуков", "улица", "көшесі"),
    ("Есенберлина", "Есенберлин", "улица", "көшесі"),
    ("Токсан би", "Тоқсан би", "улица", "көшесі"),
    ("Астана", "Астана", "улица", "көшесі"),
    ("Жабаева", "Жабаев", "улица", "көшесі"),
    ("Парковая", "Саябақ", "улица", "көшесі"),
    ("Строительная", "Құрылысшылар", "улица", "көшесі"),
    ("Юбилейная", "Мерейтой", "улица", "көшесі"),
    ("Маяковского", "Маяковский", "улица", "көшесі"),
    ("Гоголя", "Гоголь", "улица", "көшесі"),
    ("Кутузова", "Кутузов", "улица", "көшесі"),
    ("Хименко", "Хименко", "улица", "көшесі"),
    ("Айтхожина", "Айтқожин", "улица", "көшесі"),
    ("Тәуелсіздік", "Тәуелсіздік", "проспект", "даңғылы"),
    ("Брусиловского", "Брусиловский", "улица", "көшесі"),
]
DISTRICTS = [
    ("Центральный район", "Орталық ауданы"),
    ("Северный район", "Солтүстік ауданы"),
    ("Южный район", "Оңтүстік ауданы"),
    ("Западный район", "Батыс ауданы"),
]
DEPARTMENTS = [
    ("Отдел жилищно-коммунального хозяйства", "Тұрғын үй-коммуналдық шаруашылық бөлімі"),
    (
        "Отдел пассажирского транспорта и автомобильных дорог",
        "Жолаушылар көлігі және автомобиль жолдары бөлімі",
    ),
    ("Отдел ветеринарии", "Ветеринария бөлімі"),
]
LIFT_COMPANIES = [  # the first two serve one district each, the third the other two
    ("ТОО «ЛифтСервис»", "«ЛифтСервис» ЖШС"),
    ("ТОО «Север-Лифт»", "«Солтүстік-Лифт» ЖШС"),
    ("ТОО «КазЛифтМонтаж»", "«ҚазЛифтМонтаж» ЖШС"),
]
UTILITIES = {  # well kind served -> (ru, kk)
    "water": ("ГКП «Водоканал» (водопровод)", "«Су арнасы» МКК (су құбыры)"),
    "sewer": ("ГКП «Водоканал» (канализация)", "«Су арнасы» МКК (кәріз)"),
    "heating": ("ТОО «Тепловые сети»", "«Жылу желілері» ЖШС"),
    "storm": ("ГКП «Горкомхоз» (ливнёвка)", "«Қалакомшар» МКК (нөсер кәрізі)"),
    "telecom": ("АО «Телеком» (кабельная канализация)", "«Телеком» АҚ (кабель кәрізі)"),
    "power": ("ТОО «Городские электросети»", "«Қалалық электр желілері» ЖШС"),
}


# responsible managers of the organisations (synthetic names; ratings group by them)
MANAGERS = [
    "Ахметов Е. С.",
    "Смагулова А. К.",
    "Иванов П. Н.",
    "Жумабеков Д. Т.",
    "Ким О. В.",
    "Нурпеисова Г. М.",
    "Козлов А. А.",
    "Сейткалиев Б. Р.",
    "Омарова Л. Ж.",
    "Беккер В. Ф.",
    "Тулеуов М. Е.",
    "Абдрахманова С. Б.",
]


@dataclass
class Rec:
    """One generated object: its attributes and its geometry in the metric CRS."""

    kind: str
    geom: object
    attrs: dict = field(default_factory=dict)


@dataclass
class DemoCity:
    seed: int
    bounds: Polygon
    districts: list[Rec] = field(default_factory=list)
    streets: list[Rec] = field(default_factory=list)
    organisations: list[Rec] = field(default_factory=list)
    buildings: list[Rec] = field(default_factory=list)
    yards: list[Rec] = field(default_factory=list)
    wells: list[Rec] = field(default_factory=list)
    # yard index -> building indexes
    yard_buildings: list[tuple[int, int]] = field(default_factory=list)

    @property
    def origin(self) -> tuple[float, float]:
        x0, y0, _, _ = self.bounds.bounds
        return x0, y0


def to_metric() -> Transformer:
    return Transformer.from_crs(4326, METRIC_SRID, always_xy=True)


def to_wgs84() -> Transformer:
    return Transformer.from_crs(METRIC_SRID, 4326, always_xy=True)


def _street_label(name: tuple[str, str, str, str]) -> tuple[str, str]:
    ru, kk, kind_ru, kind_kk = name
    prefix = {"проспект": "пр.", "улица": "ул."}[kind_ru]
    return f"{prefix} {ru}", f"{kk} {kind_kk}"


def generate_city(seed: int = 2026) -> DemoCity:
    """Generate the demo city; the same seed gives the same city, object for object.

    The steps draw from one random generator in this order (the street names, then block by
    block), and add organisations in the order their ids will have: reordering them makes
    another city.
    """
    rng = np.random.default_rng(seed)
    grid = Grid.around(CENTRE_LONLAT)
    city = DemoCity(seed=seed, bounds=grid.bounds)
    _add_districts(city, grid)
    utilities = _add_city_bodies(city)
    streets = _add_streets(city, rng, grid)
    housing_orgs = _add_housing_orgs(city)
    _build_blocks(city, rng, grid, streets, housing_orgs, utilities)
    _number_houses(city)
    _add_storm_wells(city, utilities)
    return city


@dataclass(frozen=True)
class Grid:
    """The street grid in the metric CRS: its south-west and north-east corners, its centre."""

    x0: float
    y0: float
    x1: float
    y1: float
    cx: float
    cy: float

    @classmethod
    def around(cls, lonlat: tuple[float, float]) -> Grid:
        cx, cy = to_metric().transform(*lonlat)
        x0 = cx - N_BLOCKS_X * BLOCK / 2
        y0 = cy - N_BLOCKS_Y * BLOCK / 2
        return cls(x0, y0, x0 + N_BLOCKS_X * BLOCK, y0 + N_BLOCKS_Y * BLOCK, cx, cy)

    @property
    def bounds(self) -> Polygon:
        """The city's bounds: the grid and 200 m around it."""
        return box(self.x0 - 200, self.y0 - 200, self.x1 + 200, self.y1 + 200)


@dataclass(frozen=True)
class Block:
    """One block of the grid: its column and row, and its south-west corner."""

    i: int
    j: int
    bx: float
    by: float


@dataclass(frozen=True)
class GridStreets:
    """The index in ``city.streets`` of the north-south street at each grid column and of
    the east-west street at each grid row."""

    of_x: dict[int, int]
    of_y: dict[int, int]


def _add_districts(city: DemoCity, grid: Grid) -> None:
    """Four districts: a square at the centre and three around it."""
    cx, cy = grid.cx, grid.cy
    quads = [box(cx - 1500, cy - 1500, cx + 1500, cy + 1500)]
    outer = city.bounds.difference(quads[0])
    quads += [
        outer.intersection(box(grid.x0 - 200, cy, grid.x1 + 200, grid.y1 + 200)),
        outer.intersection(box(cx - 1500, grid.y0 - 200, grid.x1 + 200, cy)),
        outer.intersection(box(grid.x0 - 200, grid.y0 - 200, cx - 1500, cy)),
    ]
    for (ru, kk), geom in zip(DISTRICTS, quads, strict=True):
        city.districts.append(Rec("district", geom, {"name_ru": ru, "name_kk": kk}))


def _add_city_bodies(city: DemoCity) -> dict[str, int]:
    """City departments, district akimats, utilities, lift companies and contractors, with
    their service areas; returns each utility's index by the well kind it serves."""
    for ru, kk in DEPARTMENTS:
        city.organisations.append(
            Rec("city_department", city.bounds, {"name_ru": ru, "name_kk": kk})
        )
    for i, d in enumerate(city.districts):
        city.organisations.append(
            Rec(
                "district_akimat",
                d.geom,
                {
                    "name_ru": f"Аппарат акима: {d.attrs['name_ru']}",
                    "name_kk": f"Әкім аппараты: {d.attrs['name_kk']}",
                    "district": i,
                },
            )
        )
    utility_index = {}
    for key, (ru, kk) in UTILITIES.items():
        utility_index[key] = len(city.organisations)
        city.organisations.append(Rec("utility", city.bounds, {"name_ru": ru, "name_kk": kk}))
    for i, (ru, kk) in enumerate(LIFT_COMPANIES):
        area = (
            city.districts[i].geom
            if i < 2
            else city.districts[2].geom.union(city.districts[3].geom)
        )
        city.organisations.append(Rec("lift_company", area, {"name_ru": ru, "name_kk": kk}))
    for i in range(5):
        city.organisations.append(
            Rec(
                "contractor",
                city.bounds,
                {"name_ru": f"ТОО «Дорстрой-{i + 1}»", "name_kk": f"«Жолқұрылыс-{i + 1}» ЖШС"},
            )
        )
    return utility_index


def _add_streets(city: DemoCity, rng: np.random.Generator, grid: Grid) -> GridStreets:
    """North-south (x = const) and east-west (y = const) lines of the grid, named in a
    random order with the main avenue (Абая, as in the real city) through the centre."""
    names = list(STREET_NAMES)
    order = list(rng.permutation(len(names)))
    mid = N_BLOCKS_X // 2
    a = order.index(0)
    order[a], order[mid] = order[mid], order[a]
    street_of_x, street_of_y = {}, {}
    k = 0
    for i in range(N_BLOCKS_X + 1):
        x = grid.x0 + i * BLOCK
        nm = names[order[k % len(names)]]
        suffix = "" if k < len(names) else f" {k // len(names) + 1}-я"
        street_of_x[i] = len(city.streets)
        city.streets.append(_street(nm, suffix, LineString([(x, grid.y0), (x, grid.y1)])))
        k += 1
    for j in range(N_BLOCKS_Y + 1):
        y = grid.y0 + j * BLOCK
        nm = names[order[k % len(names)]]
        suffix = "" if k < len(names) else f"-{k // len(names) + 1}"
        street_of_y[j] = len(city.streets)
        city.streets.append(_street(nm, suffix, LineString([(grid.x0, y), (grid.x1, y)])))
        k += 1
    return GridStreets(street_of_x, street_of_y)


def _street(name: tuple[str, str, str, str], suffix: str, line: LineString) -> Rec:
    ru, kk = _street_label(name)
    return Rec(
        "street",
        line,
        {
            "name_ru": ru + suffix,
            "name_kk": kk + suffix,
            "kind": "avenue" if name[2] == "проспект" else "street",
        },
    )


def _add_housing_orgs(city: DemoCity) -> list[int]:
    """40 housing organisations (КСК / ОСИ / УК); each will take a few microdistrict blocks."""
    housing_orgs: list[int] = []
    kinds_ru = ["КСК", "ОСИ", "УК"]
    for i in range(40):
        housing_orgs.append(len(city.organisations))
        kind = kinds_ru[i % 3]
        kk_kind = {"КСК": "ПИК", "ОСИ": "МИБ", "УК": "БК"}[kind]
        city.organisations.append(
            Rec(
                "housing_org",
                None,
                {
                    "name_ru": f"{kind} «Кызылжар-{i + 1}»",
                    "name_kk": f"{kk_kind} «Қызылжар-{i + 1}»",
                },
            )
        )
    return housing_orgs


def _build_blocks(
    city: DemoCity,
    rng: np.random.Generator,
    grid: Grid,
    streets: GridStreets,
    housing_orgs: list[int],
    utilities: dict[str, int],
) -> None:
    """Panel microdistricts towards the centre, private houses towards the edge, some
    blocks left empty; each microdistrict goes to the next housing organisation."""
    centre_i, centre_j = N_BLOCKS_X / 2, N_BLOCKS_Y / 2
    block_no = 0
    for i in range(N_BLOCKS_X):
        for j in range(N_BLOCKS_Y):
            block = Block(i, j, grid.x0 + i * BLOCK, grid.y0 + j * BLOCK)
            dist = max(abs(i + 0.5 - centre_i) / centre_i, abs(j + 0.5 - centre_j) / centre_j)
            if dist < 0.8 and rng.random() < 0.93:
                org = housing_orgs[block_no % len(housing_orgs)]
                _microdistrict(city, rng, block, streets, org, utilities)
                block_no += 1
            elif dist < 0.95 or rng.random() < 0.5:
                _private_quarter(city, rng, block, streets)


def _add_building(
    city: DemoCity,
    rng: np.random.Generator,
    geom: Polygon,
    floors: int,
    entrances: int,
    kind: str,
    street: int,
    pos: float,
    side: int,
    org: int | None,
) -> int:
    """A building fronting ``street`` at ``pos`` on ``side`` (for its house number); its
    index in ``city.buildings``."""
    apartments = floors * entrances * 4 if kind == "apartment" else 1
    city.buildings.append(
        Rec(
            kind,
            geom,
            {
                "street": street,
                "pos": pos,
                "side": side,
                "floors": floors,
                "apartments": apartments,
                "year_built": int(rng.integers(1962, 1992))
                if kind == "apartment"
                else int(rng.integers(1950, 2020)),
                "housing_org": org,
            },
        )
    )
    return len(city.buildings) - 1


def _add_storm_wells(city: DemoCity, utilities: dict[str, int]) -> None:
    """Storm-water wells along every street, every ~150 m."""
    for s_idx, s in enumerate(city.streets):
        line = s.geom
        for d in np.arange(75.0, line.length, 150.0):
            p = line.interpolate(d)
            city.wells.append(
                Rec(
                    "storm",
                    Point(p.x + 9, p.y + 9),
                    {
                        "owner": utilities["storm"],
                        "yard": None,
                        "code": f"ЛК-{s_idx + 1}-{int(d)}",
                    },
                )
            )


def _number_houses(city: DemoCity) -> None:
    """House numbers as a city gives them: along each street from its start, odd numbers on
    one side (1, 3, 5 …) and even on the other (2, 4, 6 …)."""
    by_side: dict[tuple[int, int], list[int]] = {}
    for k, b in enumerate(city.buildings):
        by_side.setdefault((b.attrs["street"], b.attrs["side"]), []).append(k)
    for (_, side), members in sorted(by_side.items()):
        members.sort(key=lambda k: (city.buildings[k].attrs["pos"], k))
        first = 1 if side > 0 else 2
        for n, k in enumerate(members):
            attrs = city.buildings[k].attrs
            attrs["house_number"] = str(first + 2 * n)
            del attrs["pos"], attrs["side"]


def _microdistrict(
    city: DemoCity,
    rng: np.random.Generator,
    block: Block,
    streets: GridStreets,
    org: int,
    utility_index: dict[str, int],
) -> None:
    """A 2x2 grid of yards, each ringed by panel slabs along its sides."""
    i, j, bx, by = block.i, block.j, block.bx, block.by
    street_of_x, street_of_y = streets.of_x, streets.of_y
    half = BLOCK / 2
    for qi in range(2):
        for qj in range(2):
            sx0 = bx + STREET_HALF + qi * (half - STREET_HALF)
            sy0 = by + STREET_HALF + qj * (half - STREET_HALF)
            size = half - STREET_HALF - 6
            nine = rng.random() < 0.45
            floors = 9 if nine else 5
            depth = 13.0
            slabs = []
            # one long slab on the south and north sides, short ones on the east/west sides
            length = size - 2 * depth - 10
            slabs.append(box(sx0 + depth + 5, sy0, sx0 + depth + 5 + length, sy0 + depth))
            slabs.append(
                box(sx0 + depth + 5, sy0 + size - depth, sx0 + depth + 5 + length, sy0 + size)
            )
            if rng.random() < 0.7:
                slabs.append(box(sx0, sy0 + depth + 10, sx0 + depth, sy0 + size - depth - 10))
            if rng.random() < 0.5:
                slabs.append(
                    box(sx0 + size - depth, sy0 + depth + 10, sx0 + size, sy0 + size - depth - 10)
                )
            yard_geom = box(
                sx0 + depth + 2, sy0 + depth + 2, sx0 + size - depth - 2, sy0 + size - depth - 2
            )
            # bite a random corner so yards are not all the same rectangle
            cut = rng.uniform(0, 25)
            yard_geom = yard_geom.difference(
                box(
                    sx0 + size - depth - 2 - cut,
                    sy0 + size - depth - 2 - cut,
                    sx0 + size,
                    sy0 + size,
                )
            )
            yard_idx = len(city.yards)
            city.yards.append(
                Rec(
                    "yard",
                    yard_geom,
                    {
                        "name": None,
                        "surface": "asphalt" if rng.random() < 0.7 else "gravel",
                        "last_repair_year": int(rng.choice([0, 0, 0, 2018, 2021, 2023, 2025]))
                        or None,
                    },
                )
            )
            for slab in slabs:
                c = slab.centroid
                # the building fronts the nearest street of its block
                dists = {"w": c.x - bx, "e": bx + BLOCK - c.x, "s": c.y - by, "n": by + BLOCK - c.y}
                side = min(dists, key=dists.get)
                if side in ("w", "e"):
                    street = street_of_x[i if side == "w" else i + 1]
                    pos, sgn = c.y - city.origin[1], (1 if side == "w" else -1)
                else:
                    street = street_of_y[j if side == "s" else j + 1]
                    pos, sgn = c.x - city.origin[0], (1 if side == "s" else -1)
                entrances = max(
                    2,
                    int(
                        max(slab.bounds[2] - slab.bounds[0], slab.bounds[3] - slab.bounds[1]) // 24
                    ),
                )
                b = _add_building(
                    city, rng, slab, floors, entrances, "apartment", street, pos, sgn, org
                )
                city.yard_buildings.append((yard_idx, b))
            # wells in the yard: water, sewer, heating, sometimes telecom
            kinds = ["water", "sewer", "sewer", "heating"] + (
                ["telecom"] if rng.random() < 0.4 else []
            )
            minx, miny, maxx, maxy = yard_geom.bounds
            for n, kind in enumerate(kinds):
                for _ in range(20):
                    p = Point(rng.uniform(minx + 3, maxx - 3), rng.uniform(miny + 3, maxy - 3))
                    if yard_geom.contains(p):
                        break
                city.wells.append(
                    Rec(
                        kind,
                        p,
                        {
                            "owner": utility_index[kind],
                            "yard": yard_idx,
                            "code": f"{kind[:2].upper()}-{yard_idx + 1}-{n + 1}",
                        },
                    )
                )


def _private_quarter(
    city: DemoCity, rng: np.random.Generator, block: Block, streets: GridStreets
) -> None:
    """Rows of one-storey private houses along the two E-W streets of the block."""
    bx, by, j = block.bx, block.by, block.j
    for row, (yy, street, sgn) in enumerate(
        [
            (by + STREET_HALF + 8, streets.of_y[j], 1),
            (by + BLOCK - STREET_HALF - 20, streets.of_y[j + 1], -1),
        ]
    ):
        xx = bx + STREET_HALF + 6
        while xx + 14 < bx + BLOCK - STREET_HALF:
            if rng.random() < 0.85:
                w, d = rng.uniform(8, 12), rng.uniform(8, 11)
                geom = box(xx, yy, xx + w, yy + d)
                _add_building(
                    city, rng, geom, 1, 1, "private", street, xx - city.origin[0], sgn, None
                )
            xx += 22
        del row


def reproject(geom, transformer: Transformer):
    """The geometry with its coordinates passed through ``transformer`` (vectorised)."""
    return shapely.transform(
        geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def as_wgs84(geom):
    """The geometry in lon/lat (the storage CRS)."""
    return reproject(geom, to_wgs84())


def multi(geom):
    if isinstance(geom, GeometryCollection) and not isinstance(
        geom, MultiPolygon | MultiLineString
    ):
        polys = [g for g in geom.geoms if isinstance(g, Polygon)]
        geom = MultiPolygon(polys) if polys else geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, LineString):
        return MultiLineString([geom])
    return geom
