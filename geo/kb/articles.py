"""Reading, searching and editing the knowledge base (table ``kb_articles``, migration 0016).

Row-level security decides what a caller sees: a published article anyone of the city, a
draft only its admins; only admins write. The functions check the role too, so that a
refusal says why (403) instead of an empty answer. An edit names the version it was made
on: when another admin saved meanwhile, nothing changes and :class:`StaleArticle` carries
the article as it is now (409), like a stale change of an appeal.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.infra.errors import Conflict, Forbidden, InvalidInput, NotFound

LANGS = ("ru", "kk", "en")
MAX_TEXT = 8000
#: the article's words as the search index (migration 0016) has them
SEARCH_TEXT = "(coalesce(k.ask, '') || ' ' || coalesce(k.tell, ''))"
_SELECT = """
SELECT k.category_code AS category, k.lang, k.ask, k.tell, k.published, k.version,
       k.updated_at, k.updated_by, c.group_code AS "group",
       CASE k.lang WHEN 'kk' THEN c.name_kk WHEN 'en' THEN c.name_en ELSE c.name_ru END
         AS category_name
FROM kb_articles k JOIN categories c ON c.code = k.category_code
WHERE k.city_id = :c"""


class StaleArticle(Conflict):
    """An edit made on a version of the article that is no longer current (HTTP 409, with
    the article as it is now in ``current``)."""

    def __init__(self, message: str, current: dict):
        super().__init__(message)
        self.current = current


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise InvalidInput(f"unknown language {lang!r}: one of {', '.join(LANGS)}")
    return lang


def get_article(conn: Connection, city_id: int, category: str, lang: str) -> dict:
    """The article of ``category`` in ``lang`` (a draft only for admins: row-level security).

    Raises
    ------
    NotFound
        No such article the caller may read.
    """
    row = (
        conn.execute(
            text(_SELECT + " AND k.category_code = :cat AND k.lang = :lang"),
            {"c": city_id, "cat": category, "lang": _lang(lang)},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no knowledge base article for category {category!r} in {lang!r}")
    return dict(row)


def list_articles(
    conn: Connection,
    city_id: int,
    lang: str | None = None,
    q: str | None = None,
    category: str | None = None,
    limit: int = 100,
    published_only: bool = False,
) -> list[dict]:
    """Articles the caller may read (``published_only``: not even an admin's drafts); with
    ``q``, those whose words or category name match (a part of a word, or a word with a
    typo: pg_trgm), best first; else by category."""
    params: dict = {"c": city_id, "lim": limit}
    sql = _SELECT + (" AND k.published" if published_only else "")
    if lang:
        sql += " AND k.lang = :lang"
        params["lang"] = _lang(lang)
    if category:
        sql += " AND k.category_code = :cat"
        params["cat"] = category
    q = (q or "").strip()
    if q:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.update(q=q, like=f"%{like}%")
        name = "(c.name_ru || ' ' || c.name_kk || ' ' || c.name_en)"
        sql += (
            f" AND ({SEARCH_TEXT} ILIKE :like OR {name} ILIKE :like "
            f"OR :q <% {SEARCH_TEXT} OR :q <% {name})"
            f" ORDER BY greatest(word_similarity(:q, {SEARCH_TEXT}), "
            f"word_similarity(:q, {name}) + 0.01) DESC, k.category_code, k.lang"
        )
    else:
        sql += " ORDER BY k.category_code, k.lang"
    sql += " LIMIT :lim"
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def save_article(
    conn: Connection,
    city_id: int,
    actor: Actor,
    category: str,
    lang: str,
    ask: str,
    tell: str,
    published: bool,
    version: int,
) -> dict:
    """Write the article of ``category`` in ``lang`` as an admin: ``version`` 0 makes a new
    one, else it is the version the edit was made on. Returns the article as saved.

    Raises
    ------
    Forbidden
        Not an admin.
    InvalidInput
        An unknown category or language, an empty or too long text.
    StaleArticle
        Another edit was saved since ``version`` (or the article exists when ``version`` is
        0): nothing changes; ``current`` is the article as it is now.
    """
    if actor.role != "admin":
        raise Forbidden("only an admin of the city edits the knowledge base")
    _lang(lang)
    ask, tell = ask.strip(), tell.strip()
    for name, value in (("ask", ask), ("tell", tell)):
        if not value or len(value) > MAX_TEXT:
            raise InvalidInput(f"'{name}' must be 1 to {MAX_TEXT} characters")
    known = conn.execute(
        text("SELECT 1 FROM categories WHERE code = :cat"), {"cat": category}
    ).first()
    if known is None:
        raise InvalidInput(f"unknown category {category!r}")
    params = {
        "c": city_id,
        "cat": category,
        "lang": lang,
        "ask": ask,
        "tell": tell,
        "pub": published,
        "by": actor.name,
        "v": version,
    }
    if version == 0:
        done = conn.execute(
            text(
                "INSERT INTO kb_articles (city_id, category_code, lang, ask, tell, published, "
                "updated_by) VALUES (:c, :cat, :lang, :ask, :tell, :pub, :by) "
                "ON CONFLICT (city_id, category_code, lang) DO NOTHING"
            ),
            params,
        ).rowcount
    else:
        done = conn.execute(
            text(
                "UPDATE kb_articles SET ask = :ask, tell = :tell, published = :pub, "
                "updated_by = :by, updated_at = now(), version = version + 1 "
                "WHERE city_id = :c AND category_code = :cat AND lang = :lang AND version = :v"
            ),
            params,
        ).rowcount
    if not done:
        try:
            current = get_article(conn, city_id, category, lang)
        except NotFound:
            raise NotFound(
                f"no knowledge base article for category {category!r} in {lang!r}: "
                "send version 0 to write the first one"
            ) from None
        raise StaleArticle(
            f"the article was changed by {current['updated_by']} (version "
            f"{current['version']}) since version {version} you edited: nothing was saved; "
            "here it is as it is now",
            current,
        )
    return get_article(conn, city_id, category, lang)
