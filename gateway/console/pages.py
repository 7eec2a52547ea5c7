"""What every console page shares: rendering in the reader's language, the way back to
the login page, and error pages instead of JSON for a person at a browser."""

from __future__ import annotations

import logging
import re
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
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
)
from markupsafe import Markup

from gateway.accounts import Account
from gateway.auth import RoleGuard, redact_path
from gateway.errors import RETRY_AFTER_SECONDS
from gateway.i18n import request_lang, translations
from gateway.names import Names
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
NOT_FOUND = N_("There is no such page here. Check the address, or go back to the start.")
NOT_ALLOWED = N_("Your account may not do this.")
NEEDS_ROLE = N_("This page is for %(roles)s. Your account does not have that role; ask an "
                "administrator if you need it.")
REFUSED = N_("The request could not be handled.")
NOT_ACCEPTED = N_("this value is not accepted; check it and try again")
# What workflows.fields and the gateway say of a value with a figure in it, for the
# catalogue; each pattern's groups fill the message's placeholders. Fixed words are
# marked where they are said (workflows.fields) and looked up as they are.
REASONS_WITH_VALUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"must be one of (?P<options>.+)"), N_("must be one of %(options)s")),
    (re.compile(r"must be at most (?P<n>\d+) characters"),
     N_("must be at most %(n)s characters")),
)
# The API, the codec, the OpenAPI document and the probes answer problem details, always.
_MACHINE_PATHS = ("/api/", "/codec", "/schema", "/metrics", "/healthz")


def reason_words(request: Request[Any, Any, Any], reason: str,
                 unknown: str = NOT_ACCEPTED) -> str:
    """What is wrong with a value, in the reader's language; English words the catalogue
    does not know are said as `unknown`."""
    for pattern, message in REASONS_WITH_VALUES:
        if found := pattern.fullmatch(reason):
            return tr(request, message) % found.groupdict()
    said = tr(request, reason)
    if said == reason and request_lang(request) != "en":
        return tr(request, unknown)
    return said


def refusal_words(request: Request[Any, Any, Any], exc: ProblemDetailsException,
                  bundle: str | None = None, step: str | None = None) -> str:
    """A refusal as the reader reads it: the field by its name (a form's field by its
    label), and what is wrong from the catalogue; a reason the catalogue lacks is said in
    general words, not in the API's English."""
    lang = request_lang(request)
    text = problem_text(exc)
    field = problem_field(exc)
    reason = text.removeprefix(f"{field}: ") if field else text
    said = reason_words(request, reason, NOT_ACCEPTED if field else REFUSED)
    if field is None:
        return said
    name = Names(lang).name("field", field, bundle, step)
    return f"{name}：{said}" if lang == "zh" else f"{name}: {said}"


def _needed_roles(request: Request[Any, Any, Any]) -> tuple[str, ...]:
    try:
        layers = request.route_handler.ownership_layers
    except (AttributeError, KeyError):  # no route: an unmatched path
        return ()
    guards = [g for layer in layers for g in (layer.guards or [])]
    return next((tuple(g.roles) for g in reversed(guards) if isinstance(g, RoleGuard)), ())


def error_words(request: Request[Any, Any, Any], exc: HTTPException) -> str:
    """What an error page says, in the reader's language."""
    status = exc.status_code
    if status == HTTP_429_TOO_MANY_REQUESTS:
        return tr(request, TOO_MANY_TRIES)
    if status == HTTP_404_NOT_FOUND and not (
            isinstance(exc, ProblemDetailsException) and problem_field(exc)):
        return tr(request, NOT_FOUND)
    if status == HTTP_403_FORBIDDEN and (roles := _needed_roles(request)) and not (
            isinstance(exc, ProblemDetailsException)):
        names = Names(request_lang(request))
        joined = ("、" if names.lang == "zh" else " or ").join(
            names.name("role", r) for r in roles)
        return tr(request, NEEDS_ROLE) % {"roles": joined}
    if isinstance(exc, ProblemDetailsException):
        return refusal_words(request, exc)
    return tr(request, NOT_ALLOWED if status == HTTP_403_FORBIDDEN else REFUSED)


def wants_page(request: Request[Any, Any, Any]) -> bool:
    """A person at a browser (who asks for HTML), not an API client."""
    path = request.url.path
    return (not path.startswith(_MACHINE_PATHS)
            and "text/html" in request.headers.get("accept", ""))


def negotiated_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """An error raised outside the console's routers (an unknown path, a limit in a
    middleware): a page in the reader's language for a browser, problem details for
    everyone else."""
    if wants_page(request):
        return error_page(request, exc)
    if isinstance(exc, ProblemDetailsException):
        return exc.to_response(request)
    return ProblemDetailsException(status_code=exc.status_code, title=exc.detail,
                                   extra=exc.extra, headers=exc.headers).to_response(request)


def error_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if (isinstance(exc, ProblemDetailsException) and exc.status_code == HTTP_403_FORBIDDEN
            and problem_field(exc) == "centre" and isinstance(exc.extra, dict)
            and isinstance(case_id := exc.extra.get("case_id"), str)):
        # Another centre's case: say so in the reader's words, and offer to serve it here
        # with a reason (通办) to a clerk whose account may.
        user = user_of(request)
        return page(request, "elsewhere.html", status_code=exc.status_code, case_id=case_id,
                    may_serve=bool(user and user.serves_elsewhere), reason="", error=None)
    shown = page(request, "error.html", status_code=exc.status_code, status=exc.status_code,
                 detail=error_words(request, exc))
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
