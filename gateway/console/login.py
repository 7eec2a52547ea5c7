"""Logging in and out of the console, and choosing its language."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from gateway.accounts import AccountBook
from gateway.auth import LOGIN_LIMIT, renew_session_id
from gateway.centres import centre_policy
from gateway.console.pages import N_, home_of, page, safe_next, see_other, user_of
from gateway.i18n import LANG_COOKIE, as_lang


class LoginForm(msgspec.Struct, kw_only=True, frozen=True):
    username: str
    password: str
    next: str = ""


class LoginController(Controller):
    include_in_schema = False
    opt = centre_policy("none")  # signing in and out reads no case

    @get("/", exclude_from_auth=True)
    async def root(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountBook]
    ) -> Redirect:
        # Open to all, so no user is resolved here: read the session's account directly.
        username = request.session.get("username")
        user = accounts.get(username) if isinstance(username, str) else None
        return see_other(home_of(user) if user else "/login")

    @get("/console/")
    async def console_home(self, request: Request[Any, Any, Any]) -> Redirect:
        user = user_of(request)
        return see_other(home_of(user) if user else "/login")

    @get("/login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: Annotated[str, Parameter(max_length=400)] = ""
    ) -> Template:
        return page(request, "login.html", next=next, error=None, username="")

    @post("/login", middleware=[LOGIN_LIMIT.middleware])
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
        accounts: NamedDependency[AccountBook],
    ) -> Response[Any]:
        account = accounts.authenticate(data.username.strip(), data.password)
        if account is None:
            return page(request, "login.html", status_code=401, next=data.next,
                        error=N_("Unknown username or wrong password."), username=data.username)
        renew_session_id(request)
        request.set_session({"username": account.username})
        return see_other(safe_next(data.next, home_of(account)))

    @post("/console/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return see_other("/login")

    @get("/lang/{lang:str}")
    async def choose_language(
        self,
        request: Request[Any, Any, Any],
        lang: Annotated[str, Parameter(max_length=8)],
        accounts: NamedDependency[AccountBook],
        next: Annotated[str, Parameter(max_length=400)] = "/",
    ) -> Redirect:
        chosen = as_lang(lang) or "zh"
        # A clerk's choice follows the account to any window; a citizen's stays in a cookie.
        if (session_user := request.session.get("username")) and accounts.get(session_user):
            accounts.set_lang(session_user, chosen)
        response = see_other(safe_next(next, "/"))
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax",
                            httponly=True, secure=request.app.state.get("secure_cookies", True))
        return response
