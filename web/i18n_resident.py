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
ROLES: dict[str, tuple[str, str, str]] = {
    "resident": ("заявитель", "өтініш беруші", "applicant"),
}
