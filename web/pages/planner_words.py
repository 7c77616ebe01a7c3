"""The planner workspace's words in Russian, Kazakh and English (merged into the page's
labels: ``web.i18n`` keeps the site's shared words)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str, str]] = {
    "ws_title": ("Рабочее место планировщика", "Жоспарлаушының жұмыс орны", "Planner workspace"),
    "p_since": ("С", "Бастап", "From"),
    "p_until": ("По", "Дейін", "To"),
    "p_category": ("Категория", "Санат", "Category"),
    "p_group": ("Группа категорий", "Санаттар тобы", "Category group"),
    "p_district": ("Район", "Аудан", "District"),
    "p_cell": ("Ячейка, м", "Ұяшық, м", "Cell size, m"),
    "p_band": ("Радиус соседства, м", "Көршілік радиусы, м", "Neighbourhood band, m"),
    "p_method": ("p-значения", "p-мәндері", "p-values"),
    "p_step": ("Шаг времени", "Уақыт қадамы", "Time step"),
    "step_week": ("неделя", "апта", "week"),
    # the clustering's parameters (ST_ClusterDBSCAN: /api/v1/hotspots/clusters)
    "p_eps": (
        "Скопление: расстояние между обращениями, м",
        "Шоғыр: өтініштер арасындағы қашықтық, м",
        "Cluster: distance between appeals, m",
    ),
    "p_min_points": (
        "Скопление: обращений рядом, не меньше",
        "Шоғыр: қатар тұрған өтініштер, кемінде",
        "Cluster: appeals close together, at least",
    ),
    "p_limit": (
        "Скоплений на карте, не больше (самые крупные)",
        "Картадағы шоғырлар, көп дегенде (ең үлкендері)",
        "Clusters on the map, at most (the largest)",
    ),
    "step_month": ("месяц", "ай", "month"),
    "any": ("все", "барлығы", "all"),
    "auto": ("по данным", "деректер бойынша", "from the data"),
    "default_is": ("по умолчанию", "әдепкі", "default"),
    "apply": ("Показать", "Көрсету", "Show"),
    "reset": ("Сбросить", "Қалпына келтіру", "Reset"),
    "d_period": ("последние 365 дней", "соңғы 365 күн", "the last 365 days"),
    "d_until": ("сегодня", "бүгін", "today"),
    "d_cell": ("250 м", "250 м", "250 m"),
    "d_band": (
        "по данным (как Optimized Hot Spot Analysis)",
        "деректер бойынша (Optimized Hot Spot Analysis сияқты)",
        "from the data (as Optimized Hot Spot Analysis)",
    ),
    "d_method": (
        "перестановки, 999 (как GeoDa)",
        "ауыстырулар, 999 (GeoDa сияқты)",
        "permutations, 999 (as GeoDa)",
    ),
    "m_permutation": ("перестановки", "ауыстырулар", "permutations"),
    "m_normal": ("нормальное приближение", "қалыпты жуықтау", "normal approximation"),
    "m_negbin": ("отрицательное биномиальное", "теріс биномдық", "negative binomial"),
    "layer": ("Слой", "Қабат", "Layer"),
    "l_hotspots": ("Горячие точки", "Ыстық нүктелер", "Hot spots"),
    "l_emerging": (
        "Возникающие горячие точки",
        "Пайда болған ыстық нүктелер",
        "Emerging hot spots",
    ),
    "l_failing": ("Объекты с повторами", "Қайталанатын нысандар", "Failing objects"),
    "l_clusters": ("Скопления обращений", "Өтініштер шоғыры", "Clusters of appeals"),
    "l_queue": ("План ремонта дворов", "Аулаларды жөндеу жоспары", "Yard repair plan"),
    "legend": ("Легенда", "Шартты белгілер", "Legend"),
    "loading_layer": ("Считаю…", "Есептеп жатырмын…", "Computing…"),
    "hot_spot": ("горячая точка", "ыстық нүкте", "hot spot"),
    "cold_spot": ("холодная точка", "суық нүкте", "cold spot"),
    "n_appeals": ("обращений", "өтініш", "appeals"),
    "n_repeats": ("повторных", "қайталанған", "repeats"),
    "trend": ("тренд", "үрдіс", "trend"),
    "cluster": ("скопление", "шоғыр", "cluster"),
    "radius": ("радиус, м", "радиус, м", "radius, m"),
    "year_later": ("позже", "кейінірек", "later"),
    "rank_n": ("место в очереди", "кезектегі орны", "queue rank"),
    "cells_analysed": ("ячеек в анализе", "талдаудағы ұяшықтар", "cells analysed"),
    "empty_title": ("Пусто — и вот почему", "Бос — себебі", "Nothing to show, and why"),
    "r_no_appeals": (
        "Нет обращений с такими условиями. Расширьте период или снимите фильтр категории, "
        "группы или района.",
        "Мұндай шарттарға сай өтініш жоқ. Кезеңді ұзартыңыз немесе санат, топ не аудан "
        "сүзгісін алыңыз.",
        "No appeals match. Widen the period or drop the category, group or district filter.",
    ),
    "r_cells_too_large": (
        "Слишком мало ячеек с обращениями: город (или выбранная часть) мал для ячеек такого "
        "размера. Уменьшите ячейку (например, до 100 м) или расширьте период.",
        "Өтініштері бар ұяшықтар тым аз: қала (не таңдалған бөлігі) мұндай ұяшықтар үшін "
        "шағын. Ұяшықты кішірейтіңіз (мысалы, 100 м) немесе кезеңді ұзартыңыз.",
        "Too few cells hold appeals: the city (or the part chosen) is too small for cells "
        "this large. Choose smaller cells (e.g. 100 m) or a longer period.",
    ),
    "r_too_much_work": (
        "Слишком большой расчёт. Увеличьте ячейку, уменьшите радиус или сократите период.",
        "Есептеу тым ауыр. Ұяшықты үлкейтіңіз, радиусты азайтыңыз немесе кезеңді қысқартыңыз.",
        "Too much work. Choose larger cells, a smaller band or a shorter period.",
    ),
    "r_too_few_appeals": (
        "Слишком мало обращений для анализа. Расширьте период или снимите фильтры.",
        "Талдау үшін өтініштер тым аз. Кезеңді ұзартыңыз немесе сүзгілерді алыңыз.",
        "Too few appeals to analyse. Widen the period or drop filters.",
    ),
    "r_nothing_significant": (
        "Значимых горячих и холодных точек нет: обращения не образуют скоплений при этих "
        "параметрах. Попробуйте другую ячейку или радиус.",
        "Маңызды ыстық не суық нүктелер жоқ: осы параметрлерде өтініштер шоғырланбайды. "
        "Басқа ұяшықты немесе радиусты қолданып көріңіз.",
        "No significant hot or cold spots: the appeals form no clusters with these "
        "parameters. Try another cell size or band.",
    ),
    "r_none": (
        "На этом слое нет объектов при выбранных условиях.",
        "Таңдалған шарттарда бұл қабатта нысан жоқ.",
        "This layer has nothing for the conditions chosen.",
    ),
    "r_invalid": ("Параметры не подходят:", "Параметрлер жарамсыз:", "The parameters do not fit:"),
    "export": ("Выгрузить", "Жүктеп алу", "Export"),
    "all_bodies": ("Все органы", "Барлық органдар", "All bodies"),
    "order_best": ("сначала лучшие", "алдымен үздіктер", "best first"),
    "order_worst": ("сначала худшие", "алдымен нашарлар", "worst first"),
    "overdue_open": ("просрочено", "мерзімі өткен", "overdue"),
    "resolved_n": ("решено", "шешілді", "resolved"),
    "plan_title": (
        "Ремонт дворов по годам",
        "Аулаларды жылдар бойынша жөндеу",
        "Yard repairs by year",
    ),
    "plan_budgets": (
        "Бюджет по годам, ₸ (через запятую)",
        "Жылдар бойынша бюджет, ₸ (үтір арқылы)",
        "Budget per year, ₸ (comma-separated)",
    ),
    "plan_budget_default": (
        "стоимость первых 70 дворов очереди, каждый год",
        "кезектің алғашқы 70 ауласының құны, әр жыл",
        "what the first 70 yards of the queue cost, every year",
    ),
    "plan_years": ("Лет", "Жыл саны", "Years"),
    "plan_cost": ("Стоимость м², ₸", "1 м² құны, ₸", "Cost per m², ₸"),
    "plan_compare": ("Сравнить с планом", "Жоспармен салыстыру", "Compare with a plan of"),
    "plan_show": ("Рассчитать", "Есептеу", "Compute"),
    "plan_year": ("Год", "Жыл", "Year"),
    "plan_budget": ("Бюджет, ₸", "Бюджет, ₸", "Budget, ₸"),
    "plan_yards": ("Дворов", "Аулалар", "Yards"),
    "plan_spent": ("Стоимость, ₸", "Құны, ₸", "Cost, ₸"),
    "plan_unspent": ("Остаток, ₸", "Қалдық, ₸", "Unspent, ₸"),
    "plan_moved": ("Дворы, сменившие год", "Жылы өзгерген аулалар", "Yards that change year"),
    "plan_none_moved": (
        "Ни один двор не сменил год.",
        "Бірде-бір ауланың жылы өзгермеді.",
        "No yard changes year.",
    ),
    "plan_rule": (
        "Каждый год финансирует дворы по порядку очереди, пока хватает его бюджета; "
        "первый не поместившийся двор открывает следующий год. Остаток не переносится.",
        "Әр жыл кезек ретімен аулаларды өз бюджеті жеткенше қаржыландырады; сыймаған "
        "алғашқы аула келесі жылды ашады. Қалдық ауыстырылмайды.",
        "Each year funds the yards in queue order while its budget lasts; the first yard "
        "that does not fit opens the next year. Unspent money is not carried over.",
    ),
    "plan_a": ("План А", "А жоспары", "Plan A"),
    "plan_b": ("План Б", "Б жоспары", "Plan B"),
    "plan_first": ("Первые дворы плана", "Жоспардың алғашқы аулалары", "The plan's first yards"),
}

HOT = {
    "hot_99": "#b2182b",
    "hot_95": "#ef8a62",
    "hot_90": "#fddbc7",
    "cold_90": "#d1e5f0",
    "cold_95": "#67a9cf",
    "cold_99": "#2166ac",
}
EMERGING_KINDS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
EMERGING_WORDS: dict[str, tuple[str, str, str]] = {
    "new": ("новая", "жаңа", "new"),
    "consecutive": ("последовательная", "тізбекті", "consecutive"),
    "intensifying": ("усиливающаяся", "күшейіп келе жатқан", "intensifying"),
    "persistent": ("устойчивая", "тұрақты", "persistent"),
    "diminishing": ("ослабевающая", "әлсіреп келе жатқан", "diminishing"),
    "sporadic": ("спорадическая", "кездейсоқ", "sporadic"),
    "oscillating": ("колеблющаяся", "ауытқымалы", "oscillating"),
    "historical": ("историческая", "тарихи", "historical"),
}
_HOT_SHADES = (
    "#67000d",
    "#a50f15",
    "#d7301f",
    "#ef6548",
    "#fc8d59",
    "#f768a1",
    "#ae017e",
    "#fdd49e",
)
_COLD_SHADES = (
    "#08306b",
    "#08519c",
    "#2171b5",
    "#4292c6",
    "#6baed6",
    "#41b6c4",
    "#225ea8",
    "#c6dbef",
)
EMERGING = {
    **{f"{k}_hot_spot": c for k, c in zip(EMERGING_KINDS, _HOT_SHADES, strict=True)},
    **{f"{k}_cold_spot": c for k, c in zip(EMERGING_KINDS, _COLD_SHADES, strict=True)},
}
FAILING = {"building": "#8c510a", "yard": "#1b9e77", "well": "#2166ac", "street": "#7570b3"}
QUEUE_YEARS = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b")
QUEUE_LATER = "#bdbdbd"
CLUSTER = "#e7298a"


def words(lang: str) -> dict[str, str]:
    """The workspace's words and the class names of every layer in ``lang``."""
    k = {"ru": 0, "kk": 1, "en": 2}.get(lang, 0)
    out = {key: v[k] for key, v in WORDS.items()}
    for level in ("99", "95", "90"):
        out[f"c_hot_{level}"] = f"{WORDS['hot_spot'][k]}, {level} %"
        out[f"c_cold_{level}"] = f"{WORDS['cold_spot'][k]}, {level} %"
    for kind, names in EMERGING_WORDS.items():
        out[f"c_{kind}_hot_spot"] = f"{names[k]} {WORDS['hot_spot'][k]}"
        out[f"c_{kind}_cold_spot"] = f"{names[k]} {WORDS['cold_spot'][k]}"
    out["c_cluster"] = WORDS["cluster"][k]
    out["c_later"] = WORDS["year_later"][k]
    return out


def orders() -> dict[str, list[str]]:
    """The legend's order of the classes (JSON objects lose theirs on the way to the page)."""
    return {"hotspots": list(HOT), "emerging": list(EMERGING), "failing": list(FAILING)}


def colours() -> dict[str, dict]:
    """Each layer's colour per class (the map and the legend read the same table)."""
    return {
        "hotspots": HOT,
        "emerging": EMERGING,
        "failing": FAILING,
        "clusters": {"cluster": CLUSTER},
        "queue": {"years": list(QUEUE_YEARS), "later": QUEUE_LATER},
    }
