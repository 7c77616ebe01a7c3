"""The words of the Open311 answers in Russian, Kazakh and English: service groups, who is
responsible, status notes, the deadline notice, and the attributes of the services that
ask for more (GeoReport v2 "service definitions").

Every text is a (ru, kk, en) triple; :func:`pick` takes the caller's locale.
"""

from __future__ import annotations

LOCALES = ("ru", "kk", "en")


def pick(names: tuple[str, str, str], locale: str) -> str:
    """The text of ``names`` in ``locale`` (one of :data:`LOCALES`)."""
    return names[LOCALES.index(locale)]


def _value(key: str, ru: str, kk: str, en: str) -> dict:
    return {"key": key, "name": (ru, kk, en)}


GROUPS = {
    "utilities": ("Коммунальные услуги", "Коммуналдық қызметтер", "Utilities"),
    "housing": ("Жилищный фонд", "Тұрғын үй қоры", "Housing"),
    "improvement": ("Благоустройство", "Абаттандыру", "Public amenities"),
    "roads": ("Дороги", "Жолдар", "Roads"),
    "sanitation": ("Санитария", "Санитария", "Sanitation"),
    "public_order": ("Общественный порядок", "Қоғамдық тәртіп", "Public order"),
    "transport": ("Транспорт", "Көлік", "Transport"),
    "other": ("Прочее", "Басқа", "Other"),
}
RESPONSIBLE = {
    "city_department": ("отдел акимата города", "қала әкімдігінің бөлімі", "a city department"),
    "district_akimat": ("акимат района", "аудан әкімдігі", "the district akimat"),
    "utility": ("коммунальное предприятие", "коммуналдық кәсіпорын", "the utility company"),
    "lift_company": ("лифтовая организация", "лифт ұйымы", "the lift maintenance company"),
    "housing_org": (
        "обслуживающая организация дома",
        "үйге қызмет көрсететін ұйым",
        "the building's housing organisation",
    ),
    "contractor": ("подрядчик", "мердігер", "the contractor"),
}
#: the status notes that say more than the state's name (the others are the names of
#: geo.appeals.states.label): the year of a deferral, the original of a duplicate, and
#: Open311's own word for a resolved request
STATUS_NOTES = {
    "resolved": ("Выполнено", "Орындалды", "Resolved"),
    "deferred": ("Перенесено на {year} год", "{year} жылға ауыстырылды", "Deferred to {year}"),
    "duplicate": ("Дубликат обращения {of}", "{of} өтінішінің қайталануы", "Duplicate of {of}"),
}
NOTICE = (
    "Срок рассмотрения — {h} ч.",
    "Қарау мерзімі — {h} сағ.",
    "To be addressed within {h} hours.",
)


# Attributes of the services that have them (Open311 "service definitions"). ``low``/``high``
# bound a number; ``label`` is how the answer is written into the appeal's description.
ATTRIBUTES: dict[str, list[dict]] = {
    "open_manhole": [
        {
            "code": "well_kind",
            "datatype": "singlevaluelist",
            "required": False,
            "label": "Колодец",
            "description": ("Какой это колодец?", "Бұл қандай құдық?", "What kind of well is it?"),
            "values": [
                _value("sewer", "Канализационный", "Кәріз", "Sewer"),
                _value("water", "Водопроводный", "Су құбыры", "Water main"),
                _value("heating", "Тепловой", "Жылу желісі", "Heating main"),
                _value("storm", "Ливневый", "Нөсер кәрізі", "Storm drain"),
                _value("telecom", "Связь", "Байланыс", "Telecom"),
                _value("unknown", "Не знаю", "Білмеймін", "Don't know"),
            ],
        },
        {
            "code": "cover",
            "datatype": "singlevaluelist",
            "required": False,
            "label": "Крышка",
            "description": (
                "Что с крышкой люка?",
                "Құдық қақпағына не болды?",
                "What is wrong with the cover?",
            ),
            "values": [
                _value("missing", "Нет крышки", "Қақпақ жоқ", "Missing"),
                _value("displaced", "Сдвинута", "Жылжып кеткен", "Displaced"),
                _value("broken", "Сломана", "Сынған", "Broken"),
            ],
        },
    ],
    "lift_broken": [
        {
            "code": "people_trapped",
            "datatype": "singlevaluelist",
            "required": True,
            "label": "Люди в кабине",
            "description": (
                "В кабине застряли люди?",
                "Кабинада адамдар қалып қойды ма?",
                "Are people trapped in the car?",
            ),
            "values": [_value("yes", "Да", "Иә", "Yes"), _value("no", "Нет", "Жоқ", "No")],
        },
        {
            "code": "entrance",
            "datatype": "number",
            "required": False,
            "low": 1,
            "high": 50,
            "label": "Подъезд",
            "description": ("Номер подъезда", "Кіреберіс нөмірі", "Entrance number"),
            "datatype_description": (
                "Целое число от 1 до 50",
                "1-ден 50-ге дейінгі бүтін сан",
                "A whole number from 1 to 50",
            ),
        },
        {
            "code": "floor",
            "datatype": "number",
            "required": False,
            "low": 1,
            "high": 100,
            "label": "Этаж",
            "description": (
                "На каком этаже стоит лифт?",
                "Лифт қай қабатта тұр?",
                "On which floor did the lift stop?",
            ),
            "datatype_description": (
                "Целое число от 1 до 100",
                "1-ден 100-ге дейінгі бүтін сан",
                "A whole number from 1 to 100",
            ),
        },
    ],
    "no_water": [
        {
            "code": "supply",
            "datatype": "singlevaluelist",
            "required": False,
            "label": "Вода",
            "description": ("Какой воды нет?", "Қандай су жоқ?", "Which supply is off?"),
            "values": [
                _value("cold", "Холодной", "Суық", "Cold"),
                _value("hot", "Горячей", "Ыстық", "Hot"),
                _value("both", "Никакой", "Екеуі де", "Both"),
            ],
        },
    ],
}
