"""The pages' words in Russian (the default), Kazakh and English.

One small dictionary: ``LABELS[key] = (ru, kk, en)``. Pages get the labels of one language
both in the template (``t.key``) and, for the scripts, as JSON (``window.QALA.t``).
"""

from __future__ import annotations

from geo.appeals import states
from web import i18n_resident

LANGS = states.LANGS  # ("ru", "kk", "en"): the order of every table's words
DEFAULT_LANG = "ru"
LANG_NAMES = {"ru": "Русский", "kk": "Қазақша", "en": "English"}

LABELS: dict[str, tuple[str, str, str]] = {
    # site
    "site": (
        "Qala Map — карта обращений города",
        "Qala Map — қала өтініштерінің картасы",
        "Qala Map — the city issue map",
    ),
    "site_short": ("Qala Map", "Qala Map", "Qala Map"),
    "tagline": (
        "Единый контакт-центр 109 и цифровая карта города",
        "109 бірыңғай байланыс орталығы және қаланың цифрлық картасы",
        "The 109 contact centre and the city's digital map",
    ),
    "home": ("Главная", "Басты бет", "Home"),
    "operator": ("Пульт оператора", "Оператор пульті", "Operator console"),
    "operator_about": (
        "Поиск адреса, карточка места, регистрация обращения",
        "Мекенжайды іздеу, орын картасы, өтінішті тіркеу",
        "Address search, place card, registering an appeal",
    ),
    "queue": ("Очередь ремонта дворов", "Аулаларды жөндеу кезегі", "Yard repair queue"),
    "queue_about": (
        "Публичная очередь асфальтирования дворов",
        "Аулаларды асфальттаудың ашық кезегі",
        "The public yard-asphalting queue",
    ),
    "track": ("Статус обращения", "Өтініш мәртебесі", "Appeal status"),
    "track_about": (
        "Узнать статус обращения по регистрационному номеру",
        "Тіркеу нөмірі бойынша өтініш мәртебесін білу",
        "Follow an appeal by its registration number",
    ),
    "planner": ("Панель планировщика", "Жоспарлаушы панелі", "Planner dashboard"),
    "planner_about": (
        "Очаги обращений, категории, сезоны, сроки исполнения",
        "Өтініштер ошақтары, санаттар, маусымдар, орындау мерзімдері",
        "Hotspots, categories, seasons, on-time rates",
    ),
    "language": ("Язык", "Тіл", "Language"),
    "demo_note": (
        "Демонстрационный город: данные синтетические.",
        "Демо-қала: деректер жасанды.",
        "Demo city: the data are synthetic.",
    ),
    "map": ("Карта", "Карта", "Map"),
    "loading": ("Загрузка…", "Жүктелуде…", "Loading…"),
    "error": ("Ошибка", "Қате", "Error"),
    "none": ("нет", "жоқ", "none"),
    # map layers
    "layer_districts": ("Районы", "Аудандар", "Districts"),
    "layer_streets": ("Улицы", "Көшелер", "Streets"),
    "layer_yards": ("Дворы", "Аулалар", "Yards"),
    "layer_buildings": ("Здания", "Ғимараттар", "Buildings"),
    "layer_wells": ("Колодцы", "Құдықтар", "Wells"),
    "layer_appeals": ("Обращения", "Өтініштер", "Appeals"),
    "layer_hotspots": ("Очаги обращений", "Өтініш ошақтары", "Appeal hotspots"),
    "layer_queue": ("Дворы в очереди", "Кезектегі аулалар", "Yards in the queue"),
    # login
    "login": ("Вход для сотрудников", "Қызметкерлер кіруі", "Staff login"),
    "username": ("Логин", "Логин", "User name"),
    "password": ("Пароль", "Құпиясөз", "Password"),
    "sign_in": ("Войти", "Кіру", "Sign in"),
    "sign_out": ("Выйти", "Шығу", "Sign out"),
    "signed_in_as": ("Вы вошли как", "Сіз кірдіңіз:", "Signed in as"),
    "login_needed": (
        "Войдите, чтобы видеть карточку места и регистрировать обращения.",
        "Орын картасын көру және өтініш тіркеу үшін кіріңіз.",
        "Sign in to see the place card and register appeals.",
    ),
    "login_ratings": (
        "Рейтинги видны планировщикам, контролёрам и инспекторам: войдите.",
        "Рейтингтерді жоспарлаушылар, бақылаушылар мен инспекторлар көреді: кіріңіз.",
        "Ratings are for planners, controllers and inspectors: sign in.",
    ),
    "login_failed": (
        "Неверный логин или пароль",
        "Логин немесе құпиясөз қате",
        "Wrong user name or password",
    ),
    # search and place card
    "search": ("Поиск адреса", "Мекенжайды іздеу", "Address search"),
    "search_placeholder": (
        "Улица и дом, например: Абая 12",
        "Көше және үй, мысалы: Абай 12",
        "Street and number, e.g. Abaya 12",
    ),
    "search_nothing": ("Ничего не найдено", "Ештеңе табылмады", "Nothing found"),
    "click_map": (
        "Щёлкните по карте или найдите адрес, чтобы открыть карточку места.",
        "Орын картасын ашу үшін картаны басыңыз немесе мекенжайды табыңыз.",
        "Click the map or find an address to open the place card.",
    ),
    "place_card": ("Карточка места", "Орын картасы", "Place card"),
    "district": ("Район", "Аудан", "District"),
    "building": ("Здание", "Ғимарат", "Building"),
    "apartments": ("Квартир", "Пәтер", "Apartments"),
    "floors": ("Этажей", "Қабат", "Floors"),
    "year_built": ("Год постройки", "Салынған жылы", "Built"),
    "housing_org": (
        "Управляющая организация (КСК/ОСИ)",
        "Басқарушы ұйым (ПИК/МИБ)",
        "Housing management organisation",
    ),
    "yard": ("Двор", "Аула", "Yard"),
    "area": ("Площадь, м²", "Ауданы, м²", "Area, m²"),
    "surface": ("Покрытие", "Жабын", "Surface"),
    "last_repair": ("Последний ремонт", "Соңғы жөндеу", "Last repair"),
    "repair_status": ("Статус ремонта", "Жөндеу мәртебесі", "Repair status"),
    "buildings_n": ("Зданий", "Ғимарат", "Buildings"),
    "wells": ("Колодцы и их владельцы", "Құдықтар және иелері", "Wells and their owners"),
    "owner": ("Владелец", "Иесі", "Owner"),
    "distance_m": ("Расст., м", "Қашық., м", "Dist., m"),
    "in_this_yard": ("в этом дворе", "осы аулада", "in this yard"),
    "open_nearby": (
        "Открытые обращения рядом",
        "Жақын маңдағы ашық өтініштер",
        "Open appeals nearby",
    ),
    "history": ("История по категориям", "Санаттар бойынша тарих", "History by category"),
    "repeats": ("Повторные", "Қайталанған", "Repeats"),
    "appeals": ("Обращений", "Өтініштер", "Appeals"),
    "phone": ("Телефон", "Телефон", "Phone"),
    # registration
    "register": ("Регистрация обращения", "Өтінішті тіркеу", "Register an appeal"),
    "category": ("Категория", "Санат", "Category"),
    "choose_category": ("— выберите категорию —", "— санатты таңдаңыз —", "— choose —"),
    "channel": ("Канал", "Арна", "Channel"),
    "location": ("Место (долгота, широта)", "Орны (бойлық, ендік)", "Location (lon, lat)"),
    "address": ("Адрес", "Мекенжай", "Address"),
    "object": ("Объект", "Нысан", "Object"),
    "organisation": ("Ответственная организация", "Жауапты ұйым", "Responsible organisation"),
    "deadline": ("Срок исполнения", "Орындау мерзімі", "Deadline"),
    "hours": ("ч", "сағ", "h"),
    "urgent": ("срочное", "шұғыл", "urgent"),
    "standard": ("плановое", "жоспарлы", "standard"),
    "description": ("Описание", "Сипаттама", "Description"),
    "applicant_name": (
        "Имя заявителя (не публикуется)",
        "Өтініш берушінің аты (жарияланбайды)",
        "Applicant's name (never published)",
    ),
    "applicant_phone": (
        "Телефон заявителя (не публикуется)",
        "Өтініш берушінің телефоны (жарияланбайды)",
        "Applicant's phone (never published)",
    ),
    "first_call": (
        "Решено при первом звонке",
        "Алғашқы қоңырауда шешілді",
        "Resolved on the first call",
    ),
    "repeat_of": ("Повтор обращения", "Қайталанған өтініш", "Repeat of"),
    "not_repeat": ("не повтор", "қайталау емес", "not a repeat"),
    "candidates": (
        "Похожие обращения рядом",
        "Жақын маңдағы ұқсас өтініштер",
        "Similar appeals nearby",
    ),
    "submit": ("Зарегистрировать", "Тіркеу", "Register"),
    "registered_as": (
        "Обращение зарегистрировано, номер",
        "Өтініш тіркелді, нөмірі",
        "Appeal registered, number",
    ),
    "pick_place": (
        "Сначала выберите место на карте",
        "Алдымен картада орынды таңдаңыз",
        "First pick a place on the map",
    ),
    # tracker
    "reg_number": ("Регистрационный номер", "Тіркеу нөмірі", "Registration number"),
    "find": ("Найти", "Табу", "Find"),
    "status": ("Статус", "Мәртебесі", "Status"),
    "created": ("Зарегистрировано", "Тіркелді", "Registered"),
    "resolved": ("Исполнено", "Орындалды", "Resolved"),
    "overdue": ("просрочено", "мерзімі өтті", "overdue"),
    "in_time": ("в срок", "мерзімінде", "on time"),
    "not_found": (
        "Обращение с таким номером не найдено",
        "Мұндай нөмірмен өтініш табылмады",
        "No appeal with this number",
    ),
    "events": ("История", "Тарих", "History"),
    "media": ("Фото и видео", "Фото және бейне", "Photos and videos"),
    "when": ("Когда", "Қашан", "When"),
    "change": ("Изменение", "Өзгеріс", "Change"),
    "who": ("Кто", "Кім", "By"),
    "deferred_to": ("Перенесено на год", "Жылға ауыстырылды", "Carried over to"),
    "no_personal": (
        "Персональные данные заявителей здесь не показываются.",
        "Өтініш берушілердің жеке деректері мұнда көрсетілмейді.",
        "No personal data of applicants is shown here.",
    ),
    # queue
    "rank": ("Место", "Орны", "Rank"),
    "appeals_n": ("Обращений", "Өтініш", "Appeals"),
    "planned": ("Плановые сроки", "Жоспарлы мерзімдер", "Planned dates"),
    "contractor": ("Подрядчик", "Мердігер", "Contractor"),
    "cost": ("Стоимость, ₸", "Құны, ₸", "Cost, ₸"),
    "funded": ("профинансировано", "қаржыландырылды", "funded"),
    "budget_line": ("Граница бюджета", "Бюджет шегі", "Budget line"),
    "budget_line_text": (
        "Выше черты — дворы, на которые хватает бюджета {year} года ({sum} ₸).",
        "Сызықтан жоғары — {year} жылғы бюджет жететін аулалар ({sum} ₸).",
        "Above the line: the yards the {year} budget covers ({sum} ₸).",
    ),
    "budget_assumed": (
        "Бюджет не задан: по примеру города показаны первые {n} дворов.",
        "Бюджет берілмеген: қала үлгісі бойынша алғашқы {n} аула көрсетілді.",
        "No budget given: as the city did, the first {n} yards are shown funded.",
    ),
    "rule_title": ("Как составлена очередь", "Кезек қалай құрылады", "How the queue is ranked"),
    "rule_1": (
        "Сначала — дворы, у которых больше всего квартир в обслуживаемых домах.",
        "Алдымен — қызмет көрсететін үйлерінде пәтерлері ең көп аулалар.",
        "First, the yards whose buildings have the most apartments.",
    ),
    "rule_2": (
        "При равенстве — дворы, по которым больше обращений жителей.",
        "Тең болса — тұрғындардың өтініштері көп аулалар.",
        "On a tie, the yards with more residents' appeals.",
    ),
    "rule_3": (
        "Затем — дворы большей площади.",
        "Содан кейін — ауданы үлкен аулалар.",
        "Then the larger yards.",
    ),
    "queue_count": ("Дворов в очереди", "Кезектегі аулалар", "Yards in the queue"),
    "cost_note": (
        "Стоимость — смета двора или оценка по площади ({cpm} ₸ за м²).",
        "Құны — ауланың сметасы немесе ауданы бойынша бағалау (м² үшін {cpm} ₸).",
        "Cost: the yard's estimate, or its area × {cpm} ₸ per m².",
    ),
    # planner
    "by_category": ("Обращения по категориям", "Санаттар бойынша өтініштер", "Appeals by category"),
    "by_month": ("Обращения по месяцам", "Айлар бойынша өтініштер", "Appeals by month"),
    "by_season": ("По сезонам", "Маусымдар бойынша", "By season"),
    "on_time": (
        "Исполнение в срок по организациям",
        "Ұйымдар бойынша мерзімінде орындау",
        "On-time rate by organisation",
    ),
    "on_time_rate": ("В срок", "Мерзімінде", "On time"),
    "median_hours": ("Медиана, ч", "Медиана, сағ", "Median, h"),
    "totals": ("Итого за год", "Жыл бойынша жиыны", "The last twelve months"),
    "repeat_share": ("Доля повторных", "Қайталанғандар үлесі", "Repeat share"),
    "fcr": ("Решено при первом звонке", "Алғашқы қоңырауда шешілді", "First-call resolution"),
    "hotspots_note": (
        "Очаги: статистика Getis-Ord Gi* по сетке, с поправкой FDR.",
        "Ошақтар: тор бойынша Getis-Ord Gi* статистикасы, FDR түзетуімен.",
        "Hotspots: Getis-Ord Gi* on a grid, with FDR control.",
    ),
    "hot": ("очаг", "ошақ", "hot spot"),
    "cold": ("холодная зона", "суық аймақ", "cold spot"),
    "confidence": ("достоверность", "сенімділік", "confidence"),
    "winter": ("зима", "қыс", "winter"),
    "spring": ("весна", "көктем", "spring"),
    "summer": ("лето", "жаз", "summer"),
    "autumn": ("осень", "күз", "autumn"),
    "queue_top": ("Очередь и бюджет", "Кезек және бюджет", "The queue and the budget"),
    "show_all": ("Вся очередь", "Толық кезек", "The whole queue"),
    # the operators' knowledge base (/staff/kb, the panel beside the operator's form)
    "kb": ("База знаний", "Білім қоры", "Knowledge base"),
    "kb_about": (
        "Что спросить у заявителя и что ему сказать по каждой категории",
        "Әр санат бойынша өтініш берушіден не сұрау және оған не айту керек",
        "What to ask the caller and what to tell them, per category",
    ),
    "kb_search": ("Поиск по базе знаний", "Білім қорынан іздеу", "Search the knowledge base"),
    "kb_search_placeholder": ("лифт, люк, отопление…", "лифт, құдық, жылу…", "lift, manhole…"),
    "kb_ask": ("Что спросить", "Не сұрау керек", "What to ask"),
    "kb_tell": ("Что сказать", "Не айту керек", "What to tell"),
    "kb_pick": (
        "Выберите категорию: здесь появится подсказка для разговора",
        "Санатты таңдаңыз: мұнда әңгімеге арналған кеңес шығады",
        "Choose a category: the script for the call appears here",
    ),
    "kb_none": ("Статьи нет", "Мақала жоқ", "No article"),
    "kb_found": ("Найдено", "Табылды", "Found"),
    "kb_published": ("Опубликована", "Жарияланған", "Published"),
    "kb_draft": ("Черновик", "Жоба", "Draft"),
    "kb_version": ("версия", "нұсқа", "version"),
    "kb_save": ("Сохранить", "Сақтау", "Save"),
    "kb_saved": ("Сохранено", "Сақталды", "Saved"),
    "kb_stale": (
        "Пока вы редактировали, статью изменил другой администратор: показана новая версия,"
        " ваши правки не сохранены",
        "Сіз өңдеп жатқанда мақаланы басқа әкімші өзгертті: жаңа нұсқа көрсетілді, "
        "сіздің түзетулеріңіз сақталмады",
        "Another admin changed the article while you edited: the new version is shown, "
        "your changes were not saved",
    ),
    "kb_admin_only": (
        "Изменять статьи могут только администраторы",
        "Мақалаларды тек әкімшілер өзгерте алады",
        "Only admins edit articles",
    ),
    "kb_language": ("Язык статьи", "Мақала тілі", "Article language"),
    # the staff workspace (/staff, /staff/{reg})
    "staff": ("Рабочее место", "Жұмыс орны", "Workspace"),
    "staff_about": (
        "Список обращений с картой, фильтры, исполнение и контроль",
        "Картасы бар өтініштер тізімі, сүзгілер, орындау және бақылау",
        "The work list beside the map, filters, execution and control",
    ),
    "appeal": ("Обращение", "Өтініш", "Appeal"),
    "work_list": ("Список обращений", "Өтініштер тізімі", "Work list"),
    "filters": ("Фильтры", "Сүзгілер", "Filters"),
    # "Filters (2 active)": the folded filters' summary on a phone
    "filters_active": ("Фильтры (включено: {n})", "Сүзгілер (қосулы: {n})", "Filters ({n} active)"),
    # the work list on a narrow screen: the list or the map, one at a time
    "view_switch": ("Список или карта", "Тізім немесе карта", "List or map"),
    "view_list": ("Список", "Тізім", "List"),
    "view_map": ("Карта", "Карта", "Map"),
    # the top bar on a phone: the pages and languages behind one button
    "menu": ("Меню", "Мәзір", "Menu"),
    "search_reg": (
        "Номер или адрес",
        "Нөмір немесе мекенжай",
        "Number or address",
    ),
    "all": ("все", "барлығы", "all"),
    "any": ("любой", "кез келген", "any"),
    "group": ("Группа", "Топ", "Group"),
    "only_overdue": ("Только просроченные", "Тек мерзімі өткендер", "Overdue only"),
    "due_today": ("Срок сегодня", "Мерзімі бүгін", "Due today"),
    "period_from": ("С даты", "Күннен бастап", "From"),
    "period_to": ("По дату", "Күнге дейін", "To"),
    "sort": ("Порядок", "Реттеу", "Order"),
    "sort_created": ("сначала новые", "алдымен жаңалары", "newest first"),
    "sort_deadline": ("ближайший срок", "жақын мерзім", "soonest deadline"),
    "sort_deadline_desc": ("дальний срок", "алыс мерзім", "latest deadline"),
    "apply": ("Показать", "Көрсету", "Show"),
    "reset": ("Сбросить", "Тазарту", "Reset"),
    "export_csv": ("Выгрузить CSV", "CSV жүктеу", "Export CSV"),
    "shown_of": ("{a}–{b} из {n}", "{n} ішінен {a}–{b}", "{a}–{b} of {n}"),
    "counts_capped": (
        "Подходит больше {n} обращений: числа — по первым {n} найденным. Уточните фильтры.",
        "{n}-нан астам өтініш сәйкес келеді: сандар алғашқы табылған {n} бойынша. "
        "Сүзгілерді нақтылаңыз.",
        "More than {n} appeals match: the counts are of the first {n} found. Narrow the filters.",
    ),
    "prev": ("Назад", "Артқа", "Previous"),
    "next": ("Далее", "Әрі қарай", "Next"),
    "nothing_found": ("Ничего не найдено", "Ештеңе табылмады", "Nothing found"),
    "live_on": ("обновляется сам", "өзі жаңарады", "live"),
    "live_off": (
        "нет связи, переподключение…",
        "байланыс жоқ, қайта қосылуда…",
        "offline, reconnecting…",
    ),
    "object_on_map": ("Объект", "Нысан", "Object"),
    "map_address": ("Адрес по карте", "Карта бойынша мекенжай", "Address on the map"),
    "address_written": (
        "Адрес со слов заявителя",
        "Өтініш берушінің сөзімен мекенжай",
        "Address as given",
    ),
    "applicant": ("Заявитель", "Өтініш беруші", "Applicant"),
    "email_label": ("E-mail", "E-mail", "E-mail"),
    "photos": ("Фото", "Фото", "Photos"),
    "original": ("Исходное обращение", "Бастапқы өтініш", "Original appeal"),
    "callback": ("Обратный звонок", "Кері қоңырау", "Call-back"),
    "callback_done": ("звонок сделан", "қоңырау шалынды", "called back"),
    "callback_result": (
        "Что сказал заявитель",
        "Өтініш беруші не айтты",
        "What the applicant said",
    ),
    "record_callback": ("Записать звонок", "Қоңырауды жазу", "Record the call-back"),
    "actions": ("Действия", "Әрекеттер", "Actions"),
    "no_actions": (
        "Для вашей роли в этом статусе действий нет.",
        "Бұл мәртебеде сіздің рөліңізге әрекет жоқ.",
        "Nothing your role can do in this status.",
    ),
    "act_assign": ("Назначить исполнителя", "Орындаушыны тағайындау", "Assign an organisation"),
    "act_accept": ("Принять", "Қабылдау", "Accept"),
    "act_start": ("Начать работу", "Жұмысты бастау", "Start work"),
    "act_complete": ("Выполнено", "Орындалды", "Complete"),
    "act_close": ("Проверено, закрыть", "Тексерілді, жабу", "Verified: close"),
    "act_send_back": ("Вернуть на доработку", "Пысықтауға қайтару", "Send back"),
    "act_reopen": ("Открыть повторно", "Қайта ашу", "Reopen"),
    "act_defer": ("Перенести на год", "Жылға ауыстыру", "Defer to a year"),
    "act_duplicate": ("Дубликат другого", "Басқасының қайталамасы", "Duplicate of another"),
    "act_reject": ("Отклонить", "Қабылдамау", "Reject"),
    "internal_note": ("Служебная заметка", "Қызметтік жазба", "Internal note"),
    "public_note": (
        "Сообщение заявителю (видно на сайте)",
        "Өтініш берушіге хабар (сайтта көрінеді)",
        "Message to the resident (shown on the tracker)",
    ),
    "year": ("Год", "Жыл", "Year"),
    "original_number": ("Номер исходного", "Бастапқының нөмірі", "Original's number"),
    "check_number": ("Найти", "Табу", "Look up"),
    "confirm": ("Подтвердить", "Растау", "Confirm"),
    "cancel": ("Отмена", "Болдырмау", "Cancel"),
    "notes": ("Заметки", "Жазбалар", "Notes"),
    "note_internal": ("служебная", "қызметтік", "internal"),
    "note_public": ("для заявителя", "өтініш берушіге", "for the resident"),
    "add_note": ("Добавить заметку", "Жазба қосу", "Add a note"),
    "note_text": ("Текст", "Мәтін", "Text"),
    "event_log": ("Журнал событий", "Оқиғалар журналы", "Event log"),
    "stale_shown": (
        "Обращение уже изменил другой сотрудник — показано текущее состояние. Ничего не изменено.",
        "Өтінішті басқа қызметкер өзгертіп қойған — ағымдағы күйі көрсетілді. Ештеңе өзгертілмеді.",
        "Someone else changed this appeal: its current state is shown. Nothing was changed.",
    ),
    "changed_live": (
        "Обращение изменено — показано текущее состояние.",
        "Өтініш өзгертілді — ағымдағы күйі көрсетілді.",
        "The appeal was changed: its current state is shown.",
    ),
    "saved": ("Сохранено", "Сақталды", "Saved"),
    "forbidden_title": ("Нет доступа (403)", "Қол жеткізу жоқ (403)", "No access (403)"),
    "not_found_title": ("Не найдено (404)", "Табылмады (404)", "Not found (404)"),
    "forbidden_text": (
        "Это обращение передано другой организации: открыть его нельзя.",
        "Бұл өтініш басқа ұйымға берілген: оны ашуға болмайды.",
        "This appeal is assigned to another organisation: you cannot open it.",
    ),
    "not_found_text": (
        "Обращения с таким номером нет.",
        "Мұндай нөмірлі өтініш жоқ.",
        "There is no appeal with this number.",
    ),
    "back_to_list": ("К списку обращений", "Өтініштер тізіміне", "Back to the work list"),
    "repeats_list": ("Повторные", "Қайталанған", "Repeats"),
    # the staff maps, the city picker, dates, photos of the work
    "legend": ("Условные знаки", "Шартты белгілер", "Legend"),
    "open_appeal": ("Открыть обращение", "Өтінішті ашу", "Open the appeal"),
    "work_city": ("Город работы", "Жұмыс қаласы", "City"),
    "date_placeholder": ("дд.мм.гггг", "кк.аа.жжжж", "dd/mm/yyyy"),
    "bad_date": (
        "Дата должна быть в виде дд.мм.гггг",
        "Күн кк.аа.жжжж түрінде болуы керек",
        "A date is written dd/mm/yyyy",
    ),
    "photos_after": (
        "Фото результата (можно несколько)",
        "Нәтиженің фотосы (бірнешеу болады)",
        "Photos of the result (one or more)",
    ),
    # the executor's photos: our own button, not the browser's "Choose File" in its language
    "choose_photos": ("Выбрать фото", "Фото таңдау", "Choose photos"),
    "no_photos_chosen": ("Фото не выбраны", "Фото таңдалмаған", "No photos chosen"),
    "choose_photo": ("Выбрать фото", "Фото таңдау", "Choose a photo"),
    "no_photo_chosen": ("Фото не выбрано", "Фото таңдалмаған", "No photo chosen"),
    "photos_chosen": ("Выбрано: {names}", "Таңдалды: {names}", "Chosen: {names}"),
    "photo_before": ("до работ", "жұмысқа дейін", "before"),
    "photo_after": ("результат", "нәтиже", "result"),
    "uploading": ("Загрузка фото…", "Фото жүктелуде…", "Uploading photos…"),
    "track_notes": ("Ответы по обращению", "Өтініш бойынша жауаптар", "Replies on the appeal"),
}

#: The resident's report (``/report``): the page and the refusals its API words in the
#: page's language (``api/routes/report.py``).
REPORT_LABELS: dict[str, tuple[str, str, str]] = {
    "report": ("Сообщить о проблеме", "Мәселе туралы хабарлау", "Report a problem"),
    "report_about": (
        "Отметьте место, выберите категорию, приложите фото — и получите номер и срок",
        "Орынды белгілеп, санатты таңдап, фото қосыңыз — нөмір мен мерзімді алыңыз",
        "Mark the place, pick a category, add photos — get a number and a deadline",
    ),
    "report_where": ("Где проблема?", "Мәселе қай жерде?", "Where is the problem?"),
    "report_address": ("Адрес", "Мекенжай", "Address"),
    "report_address_hint": ("Например: Абая 12", "Мысалы: Абай 12", "For example: Абая 12"),
    "report_my_location": ("Моё местоположение", "Менің орналасқан жерім", "My location"),
    "report_tap_map": (
        "…или нажмите на карту в нужном месте.",
        "…немесе картадағы керекті жерді басыңыз.",
        "…or tap the map at the place.",
    ),
    "report_place": ("Место", "Орын", "Place"),
    "report_place_none": ("Место ещё не выбрано", "Орын әлі таңдалмаған", "No place chosen yet"),
    "report_place_point": ("точка на карте", "картадағы нүкте", "a point on the map"),
    "report_locating": ("Определяем местоположение…", "Орналасуды анықтаудамыз…", "Locating…"),
    "report_no_location": (
        "Не удалось определить местоположение: найдите адрес или нажмите на карту.",
        "Орналасуды анықтау мүмкін болмады: мекенжайды іздеңіз немесе картаны басыңыз.",
        "Your location is not available: search for the address or tap the map.",
    ),
    "report_no_hits": ("Адрес не найден", "Мекенжай табылмады", "No such address found"),
    "report_what": ("Что случилось?", "Не болды?", "What is wrong?"),
    "report_choose": ("— выберите —", "— таңдаңыз —", "— choose —"),
    "report_description": ("Описание", "Сипаттама", "Description"),
    "report_photos": ("Фотографии (до 5)", "Фотосуреттер (5-ке дейін)", "Photos (up to 5)"),
    "report_photo_gps": (
        "В фотографии «{name}» записано место съёмки. Отметить его?",
        "«{name}» фотосуретінде түсірілген жер жазылған. Соны белгілейміз бе?",
        "The photo “{name}” says where it was taken. Use that place?",
    ),
    "report_use_photo_place": (
        "Да, отметить место из фото",
        "Иә, фотодағы орынды белгілеу",
        "Yes, use the photo's place",
    ),
    "report_contact": (
        "Как с вами связаться",
        "Сізбен қалай байланысуға болады",
        "How to reach you",
    ),
    "report_contact_hint": (
        "Телефон или эл. почта. Их видят только сотрудники, они не публикуются.",
        "Телефон немесе эл. пошта. Оларды тек қызметкерлер көреді, жарияланбайды.",
        "A phone or an e-mail. Only staff see them; they are never published.",
    ),
    "report_phone": ("Телефон", "Телефон", "Phone"),
    "report_email": ("Эл. почта", "Эл. пошта", "E-mail"),
    "report_similar": (
        "Может быть, это одно из этих обращений?",
        "Мүмкін, бұл осы өтініштердің бірі шығар?",
        "Is it one of these?",
    ),
    "report_similar_none": (
        "Рядом нет открытых обращений этой категории.",
        "Жақын жерде осы санаттағы ашық өтініштер жоқ.",
        "No open appeals of this category nearby.",
    ),
    "report_follow": ("Следить за ним", "Соны бақылау", "Follow this one"),
    "report_metres": ("{m} м", "{m} м", "{m} m"),
    "report_would_get": (
        "Исполнитель: {org}. Срок: {hours} ч.",
        "Орындаушы: {org}. Мерзімі: {hours} сағ.",
        "Responsible: {org}. Deadline: {hours} h.",
    ),
    "report_send": ("Отправить обращение", "Өтінішті жіберу", "Send the report"),
    "report_sending": ("Отправляем…", "Жіберілуде…", "Sending…"),
    "report_done": (
        "Обращение зарегистрировано",
        "Өтініш тіркелді",
        "Your report is registered",
    ),
    "report_done_hint": (
        "Сохраните номер: по нему можно узнать статус. Мы напишем вам, когда статус изменится.",
        "Нөмірді сақтаңыз: ол арқылы мәртебені білуге болады. Мәртебе өзгергенде хабарлаймыз.",
        "Keep the number to follow it. We will write to you when its status changes.",
    ),
    "report_another": (
        "Сообщить о другой проблеме",
        "Басқа мәселе туралы хабарлау",
        "Report another",
    ),
    "report_errors": ("Проверьте форму", "Форманы тексеріңіз", "Please check the form"),
    "report_need_place": (
        "Выберите место: адрес, карта или местоположение",
        "Орынды таңдаңыз: мекенжай, карта немесе орналасу",
        "Choose the place: an address, the map or your location",
    ),
    "report_need_category": ("Выберите категорию", "Санатты таңдаңыз", "Choose a category"),
    "report_need_contact": (
        "Укажите телефон или эл. почту",
        "Телефон немесе эл. поштаны көрсетіңіз",
        "Give a phone or an e-mail",
    ),
    "report_too_many": (
        "Слишком много обращений с этого адреса или контакта. "
        "Попробуйте снова через {minutes} мин.",
        "Бұл мекенжайдан немесе байланыстан өтініш тым көп. {minutes} минуттан кейін қайталаңыз.",
        "Too many reports from this address or contact. Try again in {minutes} min.",
    ),
    "report_photo_too_big": (
        "Файл «{name}» больше {mb} МБ.",
        "«{name}» файлы {mb} МБ-тан үлкен.",
        "The file “{name}” is larger than {mb} MB.",
    ),
    "report_not_image": (
        "Файл «{name}» — не фотография (нужен JPEG, PNG, WebP или HEIC).",
        "«{name}» файлы фотосурет емес (JPEG, PNG, WebP немесе HEIC керек).",
        "The file “{name}” is not a photo (JPEG, PNG, WebP or HEIC).",
    ),
    "report_photo_unusable": (
        "Фото «{name}» нельзя использовать: оно пустое или слишком большое "
        "(больше {mp} млн точек).",
        "«{name}» фотосуретін пайдалану мүмкін емес: ол бос немесе тым үлкен "
        "({mp} млн нүктеден көп).",
        "The photo “{name}” cannot be used: it is empty or too large (over {mp} million pixels).",
    ),
    "report_too_many_photos": (
        "Не больше {n} фотографий.",
        "{n} фотосуреттен артық емес.",
        "At most {n} photos.",
    ),
}
LABELS |= REPORT_LABELS

#: Appeal states (their words live with the states: ``geo.appeals.states``) and the yard
#: repair states, as residents read them; ``in_progress`` is shared by both.
REPAIR_STATES: dict[str, tuple[str, str, str]] = {
    "queued": ("в очереди", "кезекте", "queued"),
    "planned": ("запланировано", "жоспарланды", "planned"),
    "done": ("выполнено", "орындалды", "done"),
}
STATES: dict[str, tuple[str, str, str]] = {**states.LABELS, **REPAIR_STATES}
#: Category groups, as the work list's filter names them.
GROUPS: dict[str, tuple[str, str, str]] = {
    "utilities": ("коммунальные сети", "коммуналдық желілер", "utilities"),
    "housing": ("жильё", "тұрғын үй", "housing"),
    "improvement": ("благоустройство", "абаттандыру", "city improvement"),
    "roads": ("дороги", "жолдар", "roads"),
    "sanitation": ("санитария", "санитария", "sanitation"),
    "transport": ("транспорт", "көлік", "transport"),
    "public_order": ("общественный порядок", "қоғамдық тәртіп", "public order"),
    "other": ("прочее", "басқа", "other"),
}
#: Channels and object kinds as residents read them.
CHANNELS: dict[str, tuple[str, str, str]] = {
    "phone_109": ("телефон 109", "109 телефоны", "phone 109"),
    "telegram": ("Telegram", "Telegram", "Telegram"),
    "website": ("сайт", "сайт", "website"),
    "mobile_app": ("мобильное приложение", "мобильді қосымша", "mobile app"),
    "facebook": ("Facebook", "Facebook", "Facebook"),
    "instagram": ("Instagram", "Instagram", "Instagram"),
    "email": ("e-mail", "e-mail", "e-mail"),
    "whatsapp": ("WhatsApp", "WhatsApp", "WhatsApp"),
}
OBJECTS: dict[str, tuple[str, str, str]] = {
    "building": ("здание", "ғимарат", "building"),
    "yard": ("двор", "аула", "yard"),
    "well": ("колодец", "құдық", "well"),
    "street": ("улица", "көше", "street"),
    "none": ("точка на карте", "картадағы нүкте", "point on the map"),
}
WELL_KINDS: dict[str, tuple[str, str, str]] = {
    "sewer": ("канализация", "кәріз", "sewer"),
    "water": ("водопровод", "су құбыры", "water"),
    "heating": ("теплосеть", "жылу желісі", "heating"),
    "storm": ("ливнёвка", "нөсер кәрізі", "storm drain"),
    "telecom": ("связь", "байланыс", "telecom"),
}
SURFACES: dict[str, tuple[str, str, str]] = {
    "asphalt": ("асфальт", "асфальт", "asphalt"),
    "gravel": ("щебень", "қиыршық тас", "gravel"),
    "soil": ("грунт", "топырақ", "soil"),
    "concrete": ("бетон", "бетон", "concrete"),
    "tiles": ("плитка", "тақтайша", "paving tiles"),
}
ROLES: dict[str, tuple[str, str, str]] = {
    "operator": ("оператор 109", "109 операторы", "109 operator"),
    "inspector": ("инспектор", "инспектор", "inspector"),
    "executor": ("исполнитель", "орындаушы", "executing body"),
    "controller": ("контролёр", "бақылаушы", "controller"),
    "planner": ("планировщик", "жоспарлаушы", "planner"),
    "admin": ("администратор", "әкімші", "administrator"),
    "channel": ("канал", "арна", "channel"),
    "system": ("система", "жүйе", "system"),
}


# the residents' account page keeps its words in a module of its own
LABELS.update(i18n_resident.LABELS)
ROLES.update(i18n_resident.ROLES)


def pick_lang(value: str | None) -> str:
    """The language asked for, or Russian."""
    return value if value in LANGS else DEFAULT_LANG


def _column(table: dict[str, tuple[str, str, str]], lang: str) -> dict[str, str]:
    i = LANGS.index(pick_lang(lang))
    return {k: v[i] for k, v in table.items()}


def labels(lang: str) -> dict[str, str]:
    """Every label in one language (a plain dict, ready for a template or for JSON)."""
    return _column(LABELS, lang)


def vocabulary(lang: str) -> dict[str, dict[str, str]]:
    """States, channels, object and well kinds in one language, for the scripts."""
    return {
        "states": _column(STATES, lang),
        "channels": _column(CHANNELS, lang),
        "objects": _column(OBJECTS, lang),
        "wells": _column(WELL_KINDS, lang),
        "surfaces": _column(SURFACES, lang),
        "roles": _column(ROLES, lang),
        "groups": _column(GROUPS, lang),
    }
