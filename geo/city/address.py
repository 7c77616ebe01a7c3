"""Addresses as people say and type them, in Russian and Kazakh.

``normalize`` turns "пр. Абая, д.12", "Абай даңғылы 12" and "проспект Абая 12" into the same
kind of token string ("абая 12", "абай 12"), which pg_trgm then compares with the buildings'
``search_text``; the words that only say what kind of street it is are dropped.

>>> normalize("пр. Абая, д.12")
'абая 12'
>>> normalize("Абай даңғылы 12")
'абай 12'
>>> split_house_number("ул. Букетова 31/2")
('букетова', '31/2')
"""

from __future__ import annotations

import re

STREET_WORDS = {
    # Russian
    "улица",
    "ул",
    "проспект",
    "пр",
    "пр-т",
    "просп",
    "переулок",
    "пер",
    "бульвар",
    "бул",
    "шоссе",
    "ш",
    "площадь",
    "пл",
    "микрорайон",
    "мкр",
    "мкрн",
    "дом",
    "д",
    "корпус",
    "корп",
    "к",
    "квартира",
    "кв",
    "г",
    "город",
    "район",
    "р-н",
    "тупик",
    "проезд",
    "пр-д",
    # Kazakh
    "көшесі",
    "көш",
    "көше",
    "даңғылы",
    "даңғ",
    "даң",
    "шағынаудан",
    "ш/а",
    "үй",
    "тұйық",
    "алаңы",
    "қаласы",
    "пәтер",
}
_HOUSE = re.compile(r"^\d+[а-яәіңғүұқөһa-z]?(/\d+[а-яa-z]?)?$")
_PUNCT = re.compile(r"[,.;:«»\"'()№#]+")


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and street-kind words, keep name tokens and numbers."""
    text = text.lower().replace("ё", "е")
    text = _PUNCT.sub(" ", text)
    # "д12" / "д.12" -> "12"
    text = re.sub(r"\bд(\d)", r"\1", text)
    tokens = [t for t in text.split() if t and t not in STREET_WORDS]
    return " ".join(tokens)


def split_house_number(text: str) -> tuple[str, str | None]:
    """Split a typed address into its street words and its house number (if any)."""
    tokens = normalize(text).split()
    number = None
    rest = []
    for t in tokens:
        if number is None and _HOUSE.match(t):
            number = t
        else:
            rest.append(t)
    return " ".join(rest), number


def search_text(address_ru: str, address_kk: str, house_number: str) -> str:
    """What the trigram index holds for a building: both languages' street words + number."""
    words: list[str] = []
    for part in (address_ru, address_kk):
        street, _ = split_house_number(part)
        for w in street.split():
            if w not in words:
                words.append(w)
    return " ".join(words) + " " + house_number.lower()
