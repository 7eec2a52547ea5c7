"""The console's languages: Chinese first, English available, from gettext catalogues.

Catalogues are the .po files under gateway/console/locales, compiled in memory by Babel
when the gateway starts (no build step, no stale .mo). Templates call `_()`; the
language is the account's choice, else the browser's `lang` cookie, else Chinese.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_percent
from babel.support import Translations
from jinja2 import pass_context
from litestar import Request

from gateway.accounts import Account
from kernel.china_time import CHINA_TZ

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = get_args(Lang)
DEFAULT_LANG: Lang = "zh"
LANG_COOKIE = "onething-lang"
LOCALES_DIR = Path(__file__).parent / "console" / "locales"
_BABEL_LOCALE = {"zh": "zh_Hans_CN", "en": "en_GB"}


@functools.cache
def translations(lang: Lang) -> Translations:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=_BABEL_LOCALE[lang])
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def as_lang(value: object) -> Lang | None:
    return value if value in LANGS else None


def request_lang(request: Request[Any, Any, Any]) -> Lang:
    user = request.scope.get("user")
    if isinstance(user, Account) and (lang := as_lang(user.lang)):
        return lang
    return as_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG


def _lang_of(context: Mapping[str, Any]) -> Lang:
    return as_lang(context.get("lang")) or DEFAULT_LANG


@pass_context
def gettext(context: Mapping[str, Any], message: str) -> str:
    return translations(_lang_of(context)).ugettext(message)


@pass_context
def ngettext(context: Mapping[str, Any], singular: str, plural: str, n: int) -> str:
    return translations(_lang_of(context)).ungettext(singular, plural, n)


@pass_context
def pick(context: Mapping[str, Any], thing: object, attr: str) -> str:
    """A definition's own bilingual text: `name_zh` or `name_en` by the page's language."""
    lang = _lang_of(context)
    value = getattr(thing, f"{attr}_{lang}", None) or getattr(thing, f"{attr}_zh", "")
    return str(value)


@pass_context
def date_words(context: Mapping[str, Any], value: date | datetime | None) -> str:
    if value is None:
        return "—"
    locale = Locale.parse(_BABEL_LOCALE[_lang_of(context)])
    if isinstance(value, datetime):
        return format_datetime(value, "short", tzinfo=CHINA_TZ, locale=locale)
    return format_date(value, "medium", locale=locale)


def percent_in(lang: Lang, value: float | None) -> str:
    """A share as a percentage in `lang`, "—" for none."""
    if value is None:
        return "—"
    return format_percent(value, "#,##0.0%", locale=_BABEL_LOCALE[lang])


@pass_context
def percent(context: Mapping[str, Any], value: float | None) -> str:
    return percent_in(_lang_of(context), value)


@pass_context
def local_deadline(context: Mapping[str, Any], value: datetime | None) -> str:
    """A deadline as people say it: a working-day SLA ends at local midnight, which is
    the end of its last day (shown as that day); an SLA on the clock shows its time."""
    if value is None:
        return "—"
    local = value.astimezone(CHINA_TZ)
    if local.time() == time(0):
        return str(date_words(context, (local - timedelta(days=1)).date()))
    return str(date_words(context, value))


@pass_context
def held_words(context: Mapping[str, Any], value: datetime) -> str:
    """A step held for its window to open, with the opening in China time."""
    local = value.astimezone(CHINA_TZ)
    message = translations(_lang_of(context)).ugettext(
        "Held until the window opens at %(time)s on %(day)s"
    )
    return message % {"time": f"{local:%H:%M}", "day": f"{local:%m-%d}"}


TEMPLATE_GLOBALS = {"pick": pick, "local_date": date_words, "percent": percent,
                    "local_deadline": local_deadline, "held_words": held_words}
