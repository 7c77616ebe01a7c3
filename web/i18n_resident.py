"""The words of the residents' account page (``/me``), merged into :data:`web.i18n.LABELS`
(kept apart so that this page's many words do not crowd the shared table)."""

from __future__ import annotations

LABELS: dict[str, tuple[str, str, str]] = {
    "me": ("Личный кабинет", "Жеке кабинет", "My account"),
    "me_about": (
        "Ваши обращения: статусы, сроки, комментарии, оценка работы",
        "Сіздің өтініштеріңіз: мәртебелер, мерзімдер, пікірлер, жұмысты бағалау",
        "Your appeals: statuses, deadlines, comments, rating the work",
    ),
    "me_intro": (
        "Войдите по коду, который придёт на телефон или e-mail, указанный в обращении. "
        "Пароль не нужен.",
        "Өтініште көрсетілген телефонға немесе e-mail-ге келетін кодпен кіріңіз. "
        "Құпиясөз қажет емес.",
        "Sign in with a code sent to the phone or e-mail you gave on your appeal. "
        "No password needed.",
    ),
    "me_contact": ("Телефон или e-mail", "Телефон немесе e-mail", "Phone or e-mail"),
    "me_send_code": ("Получить код", "Код алу", "Send me a code"),
    "me_code": ("Код из сообщения", "Хабарламадағы код", "Code from the message"),
    "me_sign_in": ("Войти", "Кіру", "Sign in"),
    "me_code_sent": (
        "Если этот контакт указан в обращении, код уже отправлен. Он действует 10 минут.",
        "Бұл байланыс өтініште көрсетілсе, код жіберілді. Ол 10 минут жарамды.",
        "If this contact is on an appeal, a code is on its way. It works for 10 minutes.",
    ),
    "me_wrong_code": (
        "Неверный код. Осталось попыток: {n}.",
        "Код қате. Қалған әрекеттер: {n}.",
        "Wrong code. Attempts left: {n}.",
    ),
    "me_locked": (
        "Слишком много неверных кодов: вход с этим контактом заблокирован на {m} мин. "
        "Затем запросите новый код.",
        "Қате код тым көп енгізілді: осы байланыспен кіру {m} минутқа бұғатталды. "
        "Содан кейін жаңа код сұраңыз.",
        "Too many wrong codes: signing in with this contact is locked for {m} min. "
        "Then ask for a new code.",
    ),
    "me_throttled": (
        "Слишком много запросов. Попробуйте через {m} мин.",
        "Сұраныс тым көп. {m} минуттан кейін көріңіз.",
        "Too many requests. Try again in {m} min.",
    ),
    "me_bad_contact": (
        "Укажите телефон (+7 7xx xxx xx xx) или e-mail из обращения.",
        "Өтініштегі телефонды (+7 7xx xxx xx xx) немесе e-mail-ді көрсетіңіз.",
        "Give the phone (+7 7xx xxx xx xx) or e-mail from your appeal.",
    ),
    "me_expired": (
        "Код устарел или уже использован: запросите новый.",
        "Код ескірген немесе пайдаланылған: жаңасын сұраңыз.",
        "The code expired or was used: ask for a new one.",
    ),
    "me_signed_in_as": ("Вы вошли как", "Сіз кірдіңіз:", "Signed in as"),
    "me_appeals": ("Мои обращения", "Менің өтініштерім", "My appeals"),
    "me_none": (
        "С этим контактом обращений нет.",
        "Бұл байланыспен өтініштер жоқ.",
        "No appeals with this contact.",
    ),
    "me_comment": ("Комментарий", "Пікір", "Comment"),
    "me_add_comment": ("Добавить комментарий", "Пікір қосу", "Add a comment"),
    "me_add_photo": ("Добавить фото", "Фото қосу", "Add a photo"),
    "me_photo_waits": (
        "Фото получено; его увидят все после проверки.",
        "Фото алынды; тексерілгеннен кейін барлығы көреді.",
        "Photo received; everyone will see it once staff have checked it.",
    ),
    "me_confirm": ("Подтвердить исполнение", "Орындалуын растау", "Confirm the fix"),
    "me_dispute": ("Оспорить исполнение", "Орындалуына дау айту", "Dispute the fix"),
    "me_dispute_until": ("Оспорить можно до", "Дау айтуға болады:", "You may dispute until"),
    "me_dispute_closed": (
        "Срок, чтобы оспорить исполнение, истёк. Если проблема вернулась, подайте новое обращение.",
        "Орындалуына дау айту мерзімі өтті. Мәселе қайталанса, жаңа өтініш беріңіз.",
        "The time to dispute the fix has passed. If the problem is back, file a new appeal.",
    ),
    "me_disputed": (
        "Обращение открыто повторно.",
        "Өтініш қайта ашылды.",
        "The appeal has been reopened.",
    ),
    "me_confirmed": (
        "Спасибо, исполнение подтверждено.",
        "Рахмет, орындалуы расталды.",
        "Thank you, the fix is confirmed.",
    ),
    "me_rate": ("Оцените результат", "Нәтижені бағалаңыз", "Rate the result"),
    "me_rated": ("Ваша оценка", "Сіздің бағаңыз", "Your rating"),
    "me_queue_place": (
        "Место двора в очереди ремонта",
        "Ауланың жөндеу кезегіндегі орны",
        "The yard's place in the repair queue",
    ),
    "me_resident": ("заявитель", "өтініш беруші", "applicant"),
    "me_staff_note": ("сообщение исполнителей", "орындаушылардың хабары", "note from staff"),
}
LABELS.update(
    {
        "map_page": ("Карта обращений", "Өтініштер картасы", "Appeals map"),
        "map_about": (
            "Открытые и недавние обращения на карте города, без личных данных",
            "Қала картасындағы ашық және соңғы өтініштер, жеке деректерсіз",
            "Open and recent appeals on the city map, without personal data",
        ),
        "map_all": ("все", "барлығы", "all"),
        "map_open": ("открытые", "ашық", "open"),
        "map_closed": ("завершённые", "аяқталған", "finished"),
        "map_period": ("Период", "Кезең", "Period"),
        "map_days": ("за {n} дн.", "{n} күнде", "last {n} days"),
        "map_hint": (
            "Обращение показано у дома, двора, колодца или улицы, к которым оно относится.",
            "Өтініш ол қатысты үйдің, ауланың, құдықтың немесе көшенің жанында көрсетілген.",
            "Each appeal is shown at the building, yard, well or street it is about.",
        ),
        "map_zoom_in": (
            "Приблизьте карту, чтобы увидеть обращения.",
            "Өтініштерді көру үшін картаны жақындатыңыз.",
            "Zoom in to see the appeals.",
        ),
        "map_pick": (
            "Нажмите на точку, чтобы увидеть обращение.",
            "Өтінішті көру үшін нүктені басыңыз.",
            "Tap a point to see the appeal.",
        ),
    }
)
LABELS.update(
    {
        "queue_search": (
            "Найти двор по адресу",
            "Ауланы мекенжай бойынша табу",
            "Find a yard by address",
        ),
        "queue_search_none": (
            "Такого двора в очереди нет.",
            "Мұндай аула кезекте жоқ.",
            "No such yard in the queue.",
        ),
        "queue_why": ("Почему это место", "Неліктен бұл орын", "Why this rank"),
        "queue_why_text": (
            "Двор на {rank}-м месте. Впереди {more_apts} дворов с большим числом квартир "
            "(здесь {apts}), {more_appeals} — с тем же числом квартир, но большим числом "
            "обращений (здесь {appeals}), {larger} — с теми же квартирами и обращениями, "
            "но большей площадью (здесь {area} м²), {tie} — при полном равенстве по порядку "
            "регистрации двора.",
            "Аула {rank}-орында. Алдында пәтерлері көп {more_apts} аула (мұнда {apts}), "
            "пәтерлер саны бірдей, бірақ өтініштері көп {more_appeals} аула (мұнда "
            "{appeals}), пәтерлері мен өтініштері бірдей, бірақ ауданы үлкен {larger} аула "
            "(мұнда {area} м²), толық теңдікте тіркелу реті бойынша {tie} аула.",
            "This yard is number {rank}. Ahead of it: {more_apts} yards with more apartments "
            "(here {apts}), {more_appeals} with as many apartments but more appeals (here "
            "{appeals}), {larger} with the same apartments and appeals but a larger area "
            "(here {area} m²), {tie} on a full tie by the order the yards were registered.",
        ),
        "queue_legend_funded": ("в бюджете года", "жыл бюджетінде", "within the year's budget"),
        "queue_legend_unfunded": (
            "за чертой бюджета",
            "бюджет сызығынан тыс",
            "below the budget line",
        ),
        "queue_legend_yard": ("двор (площадь)", "аула (аумағы)", "yard (its area)"),
        "queue_your_yard": ("Ваш двор", "Сіздің аулаңыз", "Your yard"),
    }
)
ROLES: dict[str, tuple[str, str, str]] = {
    "resident": ("заявитель", "өтініш беруші", "applicant"),
}
