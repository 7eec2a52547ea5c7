"""The web console: the clerk's workbench, the citizen's tracking page, the data bureau's
dashboard and the developers' backlog, rendered on the server in Chinese or English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from gateway.console.access_log import AccessLogPage
from gateway.console.backlog import BacklogPages
from gateway.console.dashboard import DashboardController
from gateway.console.dashboard_tables import table_rows
from gateway.console.desk import DeskController
from gateway.console.login import LoginController
from gateway.console.pages import CONSOLE_EXCEPTION_HANDLERS
from gateway.console.rating_pages import FollowUpPages, TrackRatingController
from gateway.console.register import RegisterController
from gateway.console.tracking import TrackingController
from gateway.console.verify import VerifyController
from gateway.console.workbench import WorkbenchController
from gateway.i18n import TEMPLATE_GLOBALS, gettext, ngettext
from gateway.names import NAME_GLOBALS

HERE = Path(__file__).parent
FORM_MAX_BYTES = 256 * 1024


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the page's test, not silently
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(TEMPLATE_GLOBALS)
    env.globals.update(NAME_GLOBALS)
    env.globals["table_rows"] = table_rows
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def console_handlers() -> list[Any]:
    pages = Router(
        path="/",
        route_handlers=[LoginController, DeskController, WorkbenchController,
                       TrackingController, BacklogPages, DashboardController,
                       VerifyController, RegisterController,
                       TrackRatingController, FollowUpPages, AccessLogPage],
        exception_handlers=CONSOLE_EXCEPTION_HANDLERS,
        include_in_schema=False,
        # A page's form is small: nothing larger reaches Temporal (413 beyond).
        request_max_body_size=FORM_MAX_BYTES,
    )
    static = create_static_files_router(path="/static", directories=[HERE / "static"])
    return [pages, static]
