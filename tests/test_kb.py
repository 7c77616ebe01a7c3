"""The operators' knowledge base: seeded for the demo city, read and searched by operators,
written by admins only, versioned (a stale edit is 409, nothing changed), drafts kept from
everybody but admins (the public API too), and one city's articles invisible to another's
staff."""

from __future__ import annotations

from sqlalchemy import text

from geo.kb.seed import articles_for
from tests.factories import make_city, staff

KB = "/api/v1/staff/kb"


def test_the_demo_city_has_an_article_per_category_and_language(conn, city_id):
    n_categories = conn.execute(text("SELECT count(*) FROM categories")).scalar_one()
    rows = conn.execute(
        text("SELECT lang, count(*) FROM kb_articles WHERE city_id = :c AND published GROUP BY 1"),
        {"c": city_id},
    ).all()
    assert dict(rows) == {"ru": n_categories, "kk": n_categories, "en": n_categories}


def test_the_seeded_article_says_the_deadline_and_who_answers():
    seed = {
        "ask": {"other": {"ru": "Что случилось?"}, "lift_broken": {"ru": "В каком подъезде?"}},
        "kinds": {"lift_company": {"ru": "лифтовая компания"}},
        "common": {
            "ask": {"ru": "Адрес."},
            "urgent": {"ru": "Срочно: {hours} ч."},
            "standard": {"ru": "Срок {days}."},
            "responsible": {"ru": "Исполнитель: {kind}."},
            "next": {"ru": "Номер обращения."},
            "budget": {"ru": "Бюджет."},
            "queue": {"ru": "Очередь."},
        },
    }
    lift = {
        "code": "lift_broken",
        "criticality": "urgent",
        "deadline_hours": 24,
        "responsible_kind": "lift_company",
        "needs_budget": False,
        "counts_for_yard_queue": False,
    }
    got = articles_for(lift, seed, "ru")
    assert got["ask"] == "В каком подъезде?\nАдрес."
    assert got["tell"] == "Срочно: 24 ч.\nИсполнитель: лифтовая компания.\nНомер обращения."
    road = {**lift, "code": "road_damage", "criticality": "standard", "deadline_hours": 240}
    road.update(needs_budget=True, responsible_kind="city_department")
    assert articles_for(road, seed, "ru")["tell"].startswith("Срок 10 дней.\n")
    assert "Бюджет." in articles_for(road, seed, "ru")["tell"]


def test_an_operator_reads_the_article_of_a_category(client, conn):
    operator = staff(conn, "operator")
    r = client.get(f"{KB}/lift_broken/ru", headers=operator)
    assert r.status_code == 200, r.text
    art = r.json()
    assert art["category_name"] == "Не работает лифт" and art["published"]
    assert "подъезд" in art["ask"] and "24 ч" in art["tell"] and "лифтовая компания" in art["tell"]
    kk = client.get(f"{KB}/lift_broken/kk", headers=operator).json()
    assert kk["category_name"] == "Лифт істемейді" and "24 сағ" in kk["tell"]
    # bad input is told
    assert client.get(f"{KB}/lift_broken/de", headers=operator).status_code == 422
    r = client.get(f"{KB}/no_such_thing/ru", headers=operator)
    assert r.status_code == 404 and "no knowledge base article" in r.json()["detail"]
    # staff only on this path
    assert client.get(f"{KB}/lift_broken/ru").status_code == 401


def test_search_finds_words_parts_and_typos_in_both_languages(client, conn):
    operator = staff(conn, "operator")

    def found(q, lang=None):
        params = {"q": q} | ({"lang": lang} if lang else {})
        r = client.get(KB, headers=operator, params=params)
        assert r.status_code == 200, r.text
        return [(a["category"], a["lang"]) for a in r.json()]

    assert found("застрял", "ru")[0] == ("lift_broken", "ru")  # a word of the text
    assert ("lift_broken", "ru") in found("лифт", "ru")  # the category's name
    assert found("қамалып", "kk")[0] == ("lift_broken", "kk")
    assert ("open_manhole", "ru") in found("колодзя", "ru")  # a typo: колодца
    assert found("zzzqqq") == []


def test_an_admin_edits_with_versions_and_a_stale_edit_is_refused(client, conn):
    admin = staff(conn, "admin")
    operator = staff(conn, "operator")
    art = client.get(f"{KB}/roof_leak/ru", headers=admin).json()
    body = {"ask": "Какой этаж? Течёт сейчас?", "tell": art["tell"], "version": art["version"]}
    r = client.put(f"{KB}/roof_leak/ru", headers=admin, json=body)
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["version"] == art["version"] + 1 and saved["ask"] == body["ask"]
    assert saved["updated_by"].startswith("admin")
    # the operator reads the new text
    assert client.get(f"{KB}/roof_leak/ru", headers=operator).json()["ask"] == body["ask"]
    # a second admin's edit made on the old version: 409, the current article, nothing changed
    stale = client.put(
        f"{KB}/roof_leak/ru", headers=staff(conn, "admin"), json=body | {"ask": "X?"}
    )
    assert stale.status_code == 409
    assert "nothing was saved" in stale.json()["detail"]
    assert stale.json()["article"]["version"] == saved["version"]
    assert client.get(f"{KB}/roof_leak/ru", headers=operator).json()["ask"] == body["ask"]
    # version 0 on an existing article is stale too; on a missing one a 404 says so
    assert (
        client.put(f"{KB}/roof_leak/ru", headers=admin, json=body | {"version": 0}).status_code
        == 409
    )
    r = client.put(f"{KB}/roof_leak/ru", headers=admin, json=body | {"ask": " ", "version": 2})
    assert r.status_code == 422


def test_only_an_admin_writes(client, conn):
    for role in ("operator", "inspector", "controller"):
        headers = staff(conn, role)
        art = client.get(f"{KB}/garbage/ru", headers=headers).json()
        r = client.put(
            f"{KB}/garbage/ru",
            headers=headers,
            json={"ask": "?", "tell": "!", "version": art["version"]},
        )
        assert r.status_code == 403, (role, r.text)
        assert "only an admin" in r.json()["detail"]
    assert client.get(f"{KB}/garbage/ru", headers=staff(conn, "operator")).json()["ask"] != "?"
    assert (
        client.put(f"{KB}/garbage/ru", json={"ask": "?", "tell": "!", "version": 1}).status_code
        == 401
    )


def test_a_draft_is_seen_by_admins_only_never_by_the_public(client, conn):
    admin = staff(conn, "admin")
    art = client.get(f"{KB}/stray_dogs/en", headers=admin).json()
    draft = {"ask": "Draft question?", "tell": "Draft answer.", "published": False}
    r = client.put(f"{KB}/stray_dogs/en", headers=admin, json=draft | {"version": art["version"]})
    assert r.status_code == 200 and r.json()["published"] is False
    operator = staff(conn, "operator")
    assert client.get(f"{KB}/stray_dogs/en", headers=operator).status_code == 404
    assert ("stray_dogs", "en") not in {
        (a["category"], a["lang"]) for a in client.get(KB, headers=operator).json()
    }
    public = client.get("/api/v1/kb", params={"lang": "en"}).json()
    assert public and "stray_dogs" not in {a["category"] for a in public}
    assert all(set(a) == {"category", "category_name", "lang", "ask", "tell"} for a in public)
    # not even an admin's token shows a draft on the public path
    assert "stray_dogs" not in {
        a["category"] for a in client.get("/api/v1/kb", params={"lang": "en"}, headers=admin).json()
    }
    # the admin sees the draft
    mine = client.get(KB, headers=admin, params={"category": "stray_dogs", "lang": "en"}).json()
    assert [a["ask"] for a in mine] == ["Draft question?"]


def test_row_level_security_keeps_drafts_and_writes_to_admins(client, api_database, conn, city_id):
    """The service role's own queries, under each scope: the database refuses what the code
    would not do either."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ProgrammingError

    conn.execute(
        text(
            "UPDATE kb_articles SET published = false WHERE city_id = :c "
            "AND category_code = 'mosquitoes' AND lang = 'ru'"
        ),
        {"c": city_id},
    )
    service = create_engine(api_database.service)
    scope = (
        "SELECT set_config('qala.city_id', :c, true), set_config('qala.role', :r, true), "
        "set_config('qala.org', '', true), set_config('qala.user', '', true)"
    )
    drafts = "SELECT count(*) FROM kb_articles WHERE NOT published"
    with service.connect() as s:
        for role, seen in (("public", 0), ("operator", 0), ("inspector", 0), ("admin", 1)):
            with s.begin():
                s.execute(text(scope), {"c": str(city_id), "r": role})
                assert s.execute(text(drafts)).scalar_one() == seen, role
                total = s.execute(text("SELECT count(*) FROM kb_articles")).scalar_one()
                assert total == 27 * 3 - 1 + seen, role
        for role in ("public", "operator"):
            tx = s.begin()
            s.execute(text(scope), {"c": str(city_id), "r": role})
            changed = s.execute(text("UPDATE kb_articles SET ask = 'x' RETURNING 1")).all()
            assert changed == [], role
            try:
                s.execute(
                    text(
                        "INSERT INTO kb_articles (city_id, category_code, lang, ask, tell, "
                        "updated_by) VALUES (:c, 'other', 'ru', 'x', 'y', 'z')"
                    ),
                    {"c": city_id},
                )
                raise AssertionError(f"{role} inserted an article")
            except ProgrammingError as exc:
                assert "row-level security" in str(exc)
            tx.rollback()
        with s.begin():  # another city's scope sees none of this city's articles
            s.execute(text(scope), {"c": str(city_id + 1000), "r": "admin"})
            assert s.execute(text("SELECT count(*) FROM kb_articles")).scalar_one() == 0
    service.dispose()


def test_another_citys_staff_neither_see_nor_change_this_citys_articles(client, conn, city_id):
    make_city(conn, "ISB")
    admin_b = staff(conn, "admin", city="ISB")
    operator_b = staff(conn, "operator", city="ISB")
    assert client.get(KB, headers=operator_b).json() == []
    assert client.get(f"{KB}/lift_broken/ru", headers=operator_b).status_code == 404
    # an edit from city B lands in city B (or nowhere): A's article is untouched
    r = client.put(
        f"{KB}/lift_broken/ru", headers=admin_b, json={"ask": "B?", "tell": "B.", "version": 1}
    )
    assert r.status_code == 404 and "version 0" in r.json()["detail"]
    r = client.put(
        f"{KB}/lift_broken/ru", headers=admin_b, json={"ask": "B?", "tell": "B.", "version": 0}
    )
    assert r.status_code == 200
    a_text = conn.execute(
        text(
            "SELECT ask FROM kb_articles WHERE city_id = :c "
            "AND category_code = 'lift_broken' AND lang = 'ru'"
        ),
        {"c": city_id},
    ).scalar_one()
    assert a_text != "B?"
    assert (
        client.get(f"{KB}/lift_broken/ru", headers=staff(conn, "operator")).json()["ask"] == a_text
    )
    assert [a["ask"] for a in client.get(KB, headers=operator_b).json()] == ["B?"]
