"""The benchmark harness: a PostGIS of its own, results as records, RESULTS.md from them.

Each ``bench/bench_*.py`` module has ``run(ctx: BenchContext) -> list[dict]``; a record is
``{"name", "value", "unit", "goal", "met", "command"}`` (plus optional ``detail``). ``goal``
is a short text such as ``"<= 2 s"`` and ``met`` a bool (or None when there is no goal); a
record may say ``runs`` (how many runs of the benchmark its figure stands on, default 1).
``bench.run`` adds ``module`` and ``date``.
"""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class BenchContext:
    """Where a benchmark runs: a cluster URL to make databases in, and the command line."""

    cluster_url: str
    command: str
    quick: bool = False
    service_login: tuple[str, str] | None = None  # the cluster's service role and password
    made: list[str] = field(default_factory=list)
    shared: dict[int, str] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)
    templates: bool = False  # keep each generated city as a template for later runs

    def as_service(self, url: str) -> str:
        """The URL of the same database for the service role (what the API connects as:
        row-level security applies); unchanged when no service role is known."""
        if self.service_login is None:
            return url
        name, password = self.service_login
        return make_url(url).set(username=name, password=password).render_as_string(False)

    def make_database(self, migrate: bool = True) -> str:
        name = f"qala_b_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            make_url(self.cluster_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(self.cluster_url).set(database=name).render_as_string(False)
        e = create_engine(url)
        with e.begin() as c:
            c.execute(
                text(
                    "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm"
                )
            )
        e.dispose()
        if migrate:
            from geo.infra.migrate import upgrade

            upgrade(url)
        self.made.append(name)
        return url

    def city_with_appeals(self, n: int) -> str:
        """A database with the demo city and ``n`` generated appeals (3 planted hotspots),
        built once per run and shared by the benchmarks that ask for the same ``n``."""
        if n in self.shared:
            return self.shared[n]
        from geo.demo.appeals import load_demo_appeals
        from geo.demo.load import load_demo_city

        if self.templates:
            url = self._from_template(n)
            if url:
                return url
        url = self.make_database()
        self.made.remove(url.rsplit("/", 1)[1])  # kept until the end of the run
        engine = create_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            cid = load_demo_city(conn, seed=2026)["city_id"]
            load_demo_appeals(conn, cid, n=n, seed=2026, events=False)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        engine.dispose()
        print(f"city with {n:,} appeals built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        self.shared[n] = url
        self.keep.append(url.rsplit("/", 1)[1])
        if self.templates:
            self._admin(
                f'CREATE DATABASE "{self._template_name(n)}" TEMPLATE "{url.rsplit("/", 1)[1]}"'
            )
        return url

    def _template_name(self, n: int) -> str:
        """The kept city of ``n`` appeals made by this generator (a change to it builds a new
        one); a copy is brought to the newest migration as a deployed city would be."""
        import hashlib

        from geo.demo import appeals, load

        code = Path(appeals.__file__).read_bytes() + Path(load.__file__).read_bytes()
        return f"qala_t_{n}_{hashlib.sha1(code).hexdigest()[:10]}"

    def _admin(self, sql: str) -> list:
        admin = create_engine(
            make_url(self.cluster_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            result = c.execute(text(sql))
            rows = list(result) if result.returns_rows else []
        admin.dispose()
        return rows

    def _from_template(self, n: int) -> str | None:
        """A copy of the kept city of ``n`` appeals, or None when there is none yet."""
        template = self._template_name(n)
        if not self._admin(f"SELECT 1 FROM pg_database WHERE datname = '{template}'"):
            return None
        name = f"qala_b_{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = make_url(self.cluster_url).set(database=name).render_as_string(False)
        from geo.infra.migrate import upgrade

        upgrade(url)
        e = create_engine(url)
        with e.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        e.dispose()
        print(
            f"city with {n:,} appeals copied and migrated in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        self.shared[n] = url
        self.keep.append(name)
        return url

    def drop_databases(self, everything: bool = False) -> None:
        admin = create_engine(
            make_url(self.cluster_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            for name in self.made + (self.keep if everything else []):
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        self.made.clear()
        if everything:
            self.keep.clear()
            self.shared.clear()


def record(
    name: str,
    value: float,
    unit: str,
    command: str,
    goal: str | None = None,
    met: bool | None = None,
    detail: str | None = None,
) -> dict:
    rec = {
        "name": name,
        "value": round(float(value), 4),
        "unit": unit,
        "goal": goal,
        "met": met,
        "command": command,
    }
    if detail:
        rec["detail"] = detail
    return rec


@contextmanager
def timer():
    box = {}
    t0 = time.perf_counter()
    yield box
    box["s"] = time.perf_counter() - t0


def planner_scope(conn) -> int:
    """Put ``conn``'s transaction in a planner's scope of the demo city (row-level security
    applies as to the service's requests); the city's id."""
    from geo.appeals.actors import Actor
    from geo.staff.scope import Scope, apply_scope

    cid = conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
    apply_scope(conn, Scope(cid, Actor(name="bench", role="planner")))
    return cid
