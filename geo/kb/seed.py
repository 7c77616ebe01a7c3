"""A city's first knowledge base, made from its categories and ``seed.yaml``.

What the operator asks is written per category in ``seed.yaml``; what they tell the caller
is put together from the category itself (its deadline, the kind of body that answers,
whether it waits for the budget or the yard queue), so the article says what the system will
really do. Every article is published; admins edit them afterwards (:mod:`geo.kb.articles`).
"""

from __future__ import annotations

from importlib.resources import files

import yaml
from sqlalchemy import Connection, text

SEED_FILE = files("geo.kb") / "seed.yaml"
LANGS = ("ru", "kk", "en")


def _days(hours: int, lang: str) -> str:
    """A deadline in words: ``48`` hours is "2 дня", "2 күн", "2 days".

    >>> _days(240, "ru"), _days(72, "kk"), _days(24, "en")
    ('10 дней', '3 күн', '1 day')
    """
    n = max(1, round(hours / 24))
    if lang == "kk":
        return f"{n} күн"
    if lang == "en":
        return f"{n} day" if n == 1 else f"{n} days"
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} день"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} дня"
    return f"{n} дней"


def articles_for(category: dict, seed: dict, lang: str) -> dict:
    """The article of one category (a row of ``categories``) in ``lang``: ``ask``, ``tell``."""
    common = seed["common"]
    ask = seed["ask"].get(category["code"], seed["ask"]["other"])[lang]
    if category["criticality"] == "urgent":
        deadline = common["urgent"][lang].format(hours=category["deadline_hours"])
    else:
        deadline = common["standard"][lang].format(days=_days(category["deadline_hours"], lang))
    kind = seed["kinds"].get(category["responsible_kind"], {}).get(lang, "")
    tell = [deadline, common["responsible"][lang].format(kind=kind)]
    if category["needs_budget"]:
        tell.append(common["budget"][lang])
    if category["counts_for_yard_queue"]:
        tell.append(common["queue"][lang])
    tell.append(common["next"][lang])
    return {"ask": f"{ask}\n{common['ask'][lang]}", "tell": "\n".join(tell)}


def seed_city(conn: Connection, city_id: int, author: str = "seed") -> int:
    """Write the first article of every category in every language for ``city_id`` (those
    already there are kept), published. Returns how many were written."""
    seed = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    categories = conn.execute(
        text(
            "SELECT code, criticality, deadline_hours, responsible_kind, needs_budget, "
            "counts_for_yard_queue FROM categories ORDER BY code"
        )
    ).mappings()
    rows = [
        {"c": city_id, "cat": c["code"], "lang": lang, "by": author, **articles_for(c, seed, lang)}
        for c in categories
        for lang in LANGS
    ]
    written = 0
    for row in rows:
        written += conn.execute(
            text(
                "INSERT INTO kb_articles (city_id, category_code, lang, ask, tell, published, "
                "updated_by) VALUES (:c, :cat, :lang, :ask, :tell, true, :by) "
                "ON CONFLICT (city_id, category_code, lang) DO NOTHING"
            ),
            row,
        ).rowcount
    return written
