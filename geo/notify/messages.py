"""The text of a message to an applicant, in the appeal's language (ru, kk, en).

A message says one thing: the appeal's registration number, its new state in words, the
public tracker link and the link to stop these messages. It carries nothing else — no
address, description or anyone's name — so it can never tell one person about another.

>>> m = render("en", "PET-2026-000123", "in_progress", "https://q/track?reg=X", "https://q/u")
>>> m.subject
'Appeal PET-2026-000123: in progress'
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from geo.appeals.states import label

SUBJECT = {
    "ru": Template("Обращение $reg: $status"),
    "kk": Template("Өтініш $reg: $status"),
    "en": Template("Appeal $reg: $status"),
}
BODY = {
    "ru": Template(
        "Здравствуйте!\n\n"
        "Состояние вашего обращения $reg: $status.\n\n"
        "Следить за обращением: $track\n\n"
        "Больше не получать писем об этом обращении: $unsubscribe\n\n"
        "-- \nQala Map, единый контакт-центр 109\n"
    ),
    "kk": Template(
        "Сәлеметсіз бе!\n\n"
        "$reg өтінішіңіздің күйі: $status.\n\n"
        "Өтінішті бақылау: $track\n\n"
        "Осы өтініш туралы хаттарды енді алмау: $unsubscribe\n\n"
        "-- \nQala Map, 109 бірыңғай байланыс орталығы\n"
    ),
    "en": Template(
        "Hello,\n\n"
        "Your appeal $reg is now: $status.\n\n"
        "Follow it: $track\n\n"
        "Stop messages about this appeal: $unsubscribe\n\n"
        "-- \nQala Map, the 109 contact centre\n"
    ),
}
SMS = {
    "ru": Template("Обращение $reg: $status. $track"),
    "kk": Template("Өтініш $reg: $status. $track"),
    "en": Template("Appeal $reg: $status. $track"),
}


@dataclass(frozen=True)
class Message:
    """What is sent: a subject, a plain-text body, and the short text of an SMS."""

    subject: str
    body: str
    sms: str


def render(lang: str, reg_number: str, status: str, track: str, unsubscribe: str) -> Message:
    """The message about ``reg_number`` now in ``status``, in ``lang`` (Russian if unknown).

    Parameters
    ----------
    lang
        ``ru``, ``kk`` or ``en``.
    reg_number
        The appeal's registration number.
    status
        Its new state (:data:`geo.appeals.states.STATES`), said in words.
    track, unsubscribe
        The public tracker link and the signed link that stops these messages.
    """
    lang = lang if lang in BODY else "ru"
    words = {
        "reg": reg_number,
        "status": label(status, lang),
        "track": track,
        "unsubscribe": unsubscribe,
    }
    return Message(
        SUBJECT[lang].substitute(words), BODY[lang].substitute(words), SMS[lang].substitute(words)
    )


CODE_SUBJECT = {
    "ru": Template("Код входа в Qala Map: $code"),
    "kk": Template("Qala Map-қа кіру коды: $code"),
    "en": Template("Your Qala Map sign-in code: $code"),
}
CODE_BODY = {
    "ru": Template(
        "Здравствуйте!\n\n"
        "Ваш код для входа в личный кабинет: $code\n"
        "Он действует $minutes минут и только один раз: $page\n\n"
        "Если вы не запрашивали код, просто удалите это письмо.\n\n"
        "-- \nQala Map, единый контакт-центр 109\n"
    ),
    "kk": Template(
        "Сәлеметсіз бе!\n\n"
        "Жеке кабинетке кіру кодыңыз: $code\n"
        "Ол $minutes минут және бір рет қана жарамды: $page\n\n"
        "Егер кодты сұрамаған болсаңыз, бұл хатты жойыңыз.\n\n"
        "-- \nQala Map, 109 бірыңғай байланыс орталығы\n"
    ),
    "en": Template(
        "Hello,\n\n"
        "Your code to sign in to your account: $code\n"
        "It works once, for $minutes minutes: $page\n\n"
        "If you did not ask for a code, delete this message.\n\n"
        "-- \nQala Map, the 109 contact centre\n"
    ),
}
CODE_SMS = {
    "ru": Template("Qala Map: код входа $code (действует $minutes мин)"),
    "kk": Template("Qala Map: кіру коды $code ($minutes мин)"),
    "en": Template("Qala Map sign-in code $code (valid $minutes min)"),
}


def render_code(lang: str, code: str, page: str, minutes: int) -> Message:
    """A resident's one-time sign-in code, in ``lang`` (Russian if unknown): the code, how
    long it works, the account page; nothing else.

    >>> render_code("en", "123456", "https://q/me", 10).subject
    'Your Qala Map sign-in code: 123456'
    """
    lang = lang if lang in CODE_BODY else "ru"
    words = {"code": code, "page": page, "minutes": minutes}
    return Message(
        CODE_SUBJECT[lang].substitute(words),
        CODE_BODY[lang].substitute(words),
        CODE_SMS[lang].substitute(words),
    )
