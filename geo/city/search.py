"""Address search over the city's buildings, in Russian and Kazakh, tolerant of typos.

The street words of the query are compared with each building's ``search_text`` by pg_trgm's
word similarity (GIN-indexed ``<%`` operator), the house number must match exactly when one
is given (or its first part: "12" finds "12/1"; or a number of a range: "22" and "24" find
"22-24", "23" does not, as a range tagged with two even numbers is one side of the street),
and answers are ranked by similarity.
When trigrams find nothing (a short word with two letters swapped, "Абяа"), each typed word
is replaced by the city's closest street word within Levenshtein distance 2 (fuzzystrmatch)
and the search runs once more.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.city.address import split_house_number
from geo.infra.errors import InvalidInput

SEARCH_SQL = text("""
SELECT b.id, b.address_ru, b.address_kk, b.house_number, b.apartments, b.floors, b.kind,
       ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat,
       round(word_similarity(:street, b.search_text)::numeric, 3) AS score,
       coalesce(b.house_number = :num, false) AS exact_number
FROM buildings b
LEFT JOIN LATERAL (
  SELECT CAST(m[1] AS integer) AS lo, CAST(m[2] AS integer) AS hi
  FROM regexp_match(b.house_number, '^([0-9]{1,6}) ?[-–] ?([0-9]{1,6})$') AS m) r ON true
WHERE b.city_id = :c
  AND :street <% b.search_text
  AND (CAST(:num AS text) IS NULL OR b.house_number = :num OR b.house_number LIKE :num || '/%'
       OR (CAST(:n AS integer) BETWEEN r.lo AND r.hi
           AND (r.lo % 2 <> r.hi % 2 OR (CAST(:n AS integer) - r.lo) % 2 = 0)))
ORDER BY exact_number DESC, score DESC, length(b.house_number), b.id
LIMIT :lim
""")


FUZZY_WORDS_SQL = text("""
WITH q AS (SELECT w, ord FROM unnest(string_to_array(:street, ' ')) WITH ORDINALITY AS t(w, ord)),
words AS (SELECT DISTINCT regexp_split_to_table(s.name_ru || ' ' || s.name_kk, '[ .,]+') AS w
          FROM streets s WHERE s.city_id = :c)
SELECT coalesce(string_agg(best, ' ' ORDER BY ord), '') FROM (
  SELECT q.ord, (SELECT lower(words.w) FROM words
                 WHERE char_length(words.w) > 2
                   AND levenshtein_less_equal(lower(words.w), q.w, 2) <= 2
                 ORDER BY levenshtein(lower(words.w), q.w), words.w LIMIT 1) AS best
  FROM q) m WHERE best IS NOT NULL
""")


def search_address(conn: Connection, city_id: int, query: str, limit: int = 10) -> list[dict]:
    """Buildings matching a typed address, best first, each with its point (lon, lat).

    >>> # search_address(conn, 1, "пр. Абая, д.12") -> [{"address_ru": "пр. Абая, 12", ...}]
    """
    street, number = split_house_number(query)
    if not street:
        raise InvalidInput("type a street name (and a house number), e.g. «Абая 12»")
    conn.execute(text("SET LOCAL pg_trgm.word_similarity_threshold = 0.45"))
    n = int(number) if number and number.isdigit() and len(number) <= 6 else None
    params = {"c": city_id, "street": street, "num": number, "n": n, "lim": limit}
    rows = [dict(r) for r in conn.execute(SEARCH_SQL, params).mappings()]
    if not rows:
        fixed = conn.execute(FUZZY_WORDS_SQL, params).scalar()
        if fixed and fixed != street:
            params["street"] = fixed
            rows = [dict(r) for r in conn.execute(SEARCH_SQL, params).mappings()]
    return rows
