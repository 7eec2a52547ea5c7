"""What every console page shares: rendering in the reader's language, the way back to
the login page, and error pages instead of JSON for a person at a browser."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.plugins.flash import flash
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_403_FORBIDDEN,
    HTTP_429_TOO_MANY_REQUESTS,
)
from markupsafe import Markup

from gateway.accounts import Account
from gateway.auth import redact_path
from gateway.errors import RETRY_AFTER_SECONDS
from gateway.i18n import request_lang, translations
from gateway.shared_state import is_away
from workflows.definition import Catalogue

logger = logging.getLogger(__name__)

HOME_OF_ROLE = (
    ("clerk", "/console/desk"),
    ("analyst", "/console/dashboard"),
    ("developer", "/console/backlog"),
    ("auditor", "/console/access-log"),
    ("admin", "/console/dashboard"),
)


class Place(msgspec.Struct, kw_only=True, frozen=True):
    """A bundle and step by name in both languages (their ids where the catalogue does
    not name them), for `pick`."""

    bundle_zh: str
    bundle_en: str
    step_zh: str
    step_en: str


def names_of(catalogue: Catalogue, bundle: str | None, step: str | None = None) -> Place:
    bundle_name: tuple[str, str] = (bundle or "—",) * 2
    step_name: tuple[str, str] = (step or "—",) * 2
    if bundle is not None and bundle in catalogue.ids():
        newest = catalogue.default(bundle)
        bundle_name = (newest.name_zh, newest.name_en)
        # An older version may have a step the newest dropped: look through all, newest first.
        for version in reversed(catalogue.versions(bundle)):
            steps = {s.id: s for s in catalogue.get(bundle, version).steps}
            if step in steps:
                step_name = (steps[step].name_zh, steps[step].name_en)
                break
    return Place(bundle_zh=bundle_name[0], bundle_en=bundle_name[1],
                 step_zh=step_name[0], step_en=step_name[1])


class Refusal(msgspec.Struct, kw_only=True, frozen=True):
    """A form the gateway refused, shown again on its page: which of the page's forms
    (`form`), the field the refusal names, the message in the reader's words, and what
    was sent, to fill the form in again."""

    form: str
    field: str | None
    message: str
    typed: dict[str, str] = {}


def embedded_json(value: Any) -> Markup:
    """`value` as JSON for a <script type="application/json"> block that a page's script
    draws charts from. "<" only occurs inside JSON strings, where \\u003c means the same;
    unescaped, a "</script>" in a label would end the block early."""
    return Markup(msgspec.json.encode(value).replace(b"<", b"\\u003c").decode())


def home_of(account: Account) -> str:
    return next((path for role, path in HOME_OF_ROLE if role in account.roles), "/console/")


def user_of(request: Request[Any, Any, Any]) -> Account | None:
    user = request.scope.get("user")
    return user if isinstance(user, Account) else None


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is chosen, translated where it is shown."""
    return message


def tr(request: Request[Any, Any, Any], message: str) -> str:
    """A message in the reader's language, for text made outside a template."""
    return translations(request_lang(request)).ugettext(message)


def page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any
) -> Template:
    return Template(
        template_name=template,
        context={"lang": request_lang(request), "user": user_of(request), **context},
        status_code=status_code,
    )


def see_other(path: str) -> Redirect:
    """Post/redirect/get: a reload never sends a form twice."""
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


def safe_next(value: str | None, fallback: str) -> str:
    """Only a path on this site: an open redirect would send a clerk to a lookalike."""
    if not value:
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return fallback
    return value


def say(request: Request[Any, Any, Any], message: str, category: str = "info") -> None:
    flash(request, tr(request, message), category)


def problem_text(exc: ProblemDetailsException) -> str:
    return str(exc.detail or exc.title or "")


def problem_field(exc: ProblemDetailsException) -> str | None:
    """The field a refusal names, to show the message beside its input."""
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    field = extra.get("field")
    return field if isinstance(field, str) else None


def to_login(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(f"/login?next={quote(target)}")


TOO_MANY_TRIES = N_("Too many tries from your address. Please wait a minute and try again.")


def error_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if (isinstance(exc, ProblemDetailsException) and exc.status_code == HTTP_403_FORBIDDEN
            and problem_field(exc) == "centre" and isinstance(exc.extra, dict)
            and isinstance(case_id := exc.extra.get("case_id"), str)):
        # Another centre's case: say so in the reader's words, and offer to serve it here
        # with a reason (通办) to a clerk whose account may.
        user = user_of(request)
        return page(request, "elsewhere.html", status_code=exc.status_code, case_id=case_id,
                    may_serve=bool(user and user.serves_elsewhere), reason="", error=None)
    detail = problem_text(exc) if isinstance(exc, ProblemDetailsException) else exc.detail
    if exc.status_code == HTTP_429_TOO_MANY_REQUESTS:
        detail = tr(request, TOO_MANY_TRIES)
    shown = page(request, "error.html", status_code=exc.status_code, status=exc.status_code,
                 detail=detail)
    # Retry-After and the RateLimit-* headers of a 429, say.
    shown.headers.update(exc.headers or {})
    return shown


def failure_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A page, not a traceback, when something behind the console fails unexpectedly;
    the shared state (Redis) away is a 503 to retry, as the API answers it."""
    detail = tr(request, "The service could not answer. Please try again.")
    if is_away(exc):
        logger.warning("console page %s: the shared state did not answer",
                       redact_path(request.url.path))
        away = page(request, "error.html", status_code=503, status=503, detail=detail)
        away.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return away
    logger.exception("console page %s failed", redact_path(request.url.path), exc_info=exc)
    return page(request, "error.html", status_code=500, status=500, detail=detail)


CONSOLE_EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: to_login,
    # The problem-details plugin answers these with JSON app-wide; a page here.
    ProblemDetailsException: error_page,
    HTTPException: error_page,
    Exception: failure_page,
}
