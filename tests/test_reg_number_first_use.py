"""A city's first registration number of a year asked by two transactions at once
(``qala_next_reg_number``, migration 0011, creates the year's sequence on first use): the
second waits for the first, and gets the next number whether the first commits or rolls back;
never "relation does not exist". (The failover test once saw that error under many first uses
at once; this pair does not reproduce it.)"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
def test_the_second_first_use_waits_and_numbers_on(make_database, template_url, first_ends):
    url = make_database(template=template_url)
    engine = create_engine(url, pool_size=2)
    year = 2031 if first_ends == "commit" else 2032
    with engine.connect() as c:
        city = c.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
    got: dict = {}

    def second() -> None:
        try:
            with engine.begin() as c2:
                got["n"] = c2.execute(
                    text("SELECT qala_next_reg_number(:c, :y)"), {"c": city, "y": year}
                ).scalar_one()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            got["error"] = exc

    first = engine.connect()
    tx = first.begin()
    assert (
        first.execute(
            text("SELECT qala_next_reg_number(:c, :y)"), {"c": city, "y": year}
        ).scalar_one()
        == 1
    )
    t = threading.Thread(target=second)
    t.start()
    time.sleep(1.0)
    assert "n" not in got and "error" not in got  # waiting for the first
    getattr(tx, first_ends)()
    first.close()
    t.join(30)
    assert "error" not in got, got.get("error")
    assert got["n"] == (2 if first_ends == "commit" else 1)
    engine.dispose()
    make_database.drop(url)
