"""The public verification page (证明核验): anyone holding a certificate checks its
verification code against the register of the agency that issued it.

It says whether a certificate with that code was issued, which one (its number, the
case, the day) and to whom, by the holder's surname only: enough to compare with the
paper in hand, nothing an onlooker could use. Never the ID number. The page asks the
agency through an adapter (gateway.issued_documents) and only renders the answer.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.response import Template

from gateway.auth import VERIFY_LIMIT
from gateway.centres import centre_policy
from gateway.console.pages import N_, page, see_other
from gateway.issued_documents import (
    DocumentRegister,
    RegisterUnavailable,
    document_kinds,
    normalise_code,
)
from workflows.definition import Catalogue

NOT_ISSUED = N_("No certificate was issued with this verification code. Check the code "
                "printed on the certificate and try again.")
UNAVAILABLE = N_("The issuing agency cannot be reached just now, so the certificate cannot "
                 "be checked. Please try again later.")


class VerifyController(Controller):
    path = "/verify"
    opt = centre_policy("none")  # a certificate's check names the holder by surname only

    @get("/")
    async def ask(
        self,
        request: Request[Any, Any, Any],
        code: Annotated[str, Parameter(max_length=40)] = "",
    ) -> Response[Any] | Template:
        # The form sends ?code=; the answer lives at /verify/<code> (the address printed
        # on the certificate), where guesses are rate-limited.
        if code.strip():
            canonical = normalise_code(code) or quote(code.strip(), safe="")
            return see_other(f"/verify/{canonical}")
        return page(request, "verify.html", document=None, kind=None, error=None, code="")

    @get("/{code:str}", middleware=[VERIFY_LIMIT.middleware])
    async def show(
        self,
        request: Request[Any, Any, Any],
        code: Annotated[str, Parameter(max_length=40)],
        documents: NamedDependency[DocumentRegister],
        catalogue: NamedDependency[Catalogue],
    ) -> Template:
        wanted = normalise_code(code)
        if wanted is None:
            return page(request, "verify.html", status_code=404, document=None, kind=None,
                        error=NOT_ISSUED, code=code)
        try:
            found = await documents.find(wanted)
        except RegisterUnavailable:
            return page(request, "verify.html", status_code=503, document=None, kind=None,
                        error=UNAVAILABLE, code=wanted)
        if found is None:
            return page(request, "verify.html", status_code=404, document=None, kind=None,
                        error=NOT_ISSUED, code=wanted)
        return page(request, "verify.html", document=found,
                    kind=document_kinds(catalogue).get(found.document), error=None, code=wanted)
