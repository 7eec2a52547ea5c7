"""Documents an agency issued, asked of that agency: the adapter behind the public
verification page (/verify).

A certificate is issued by the agency that approves its step: the approval's outputs
give the case a certificate number and a verification code (an output concept named
`<document>.verification_code`), and the agency keeps the register of what it issued.
Whoever holds the certificate can check the code against that register. The code is the
agency's random number, never derived from the ID number or the case number, so it can
be neither computed nor enumerated; the verification page is rate-limited besides.

The gateway asks through this adapter, synchronously, because a person is waiting at a
browser: no workflow is involved, and the gateway itself only translates HTTP. Pointing
ONETHING_AGENCY_<AGENCY>_URL at the real agency points the page at its register.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from datetime import date

import httpx
import msgspec

from kernel.case_number import CASE_ALPHABET
from workflows.definition import Catalogue

VERIFICATION_SUFFIX = ".verification_code"
CODE_ALPHABET = CASE_ALPHABET  # read off paper as case numbers are read out: no 0/O, 1/I/L
CODE_GROUPS = 3
CODE_GROUP = 4
_CODE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_GROUPS * CODE_GROUP}}}")


def format_code(raw: str) -> str:
    """XXXX-XXXX-XXXX, as printed on the certificate."""
    return "-".join(raw[i:i + CODE_GROUP] for i in range(0, len(raw), CODE_GROUP))


def normalise_code(text: str) -> str | None:
    """A code as typed (any case, spaces or hyphens anywhere) in its printed form, or None
    when it cannot be one."""
    bare = re.sub(r"[\s\-]", "", text).upper()
    return format_code(bare) if _CODE.fullmatch(bare) else None


def mask_name(name: str) -> str:
    """The surname and one asterisk (顾*): enough to compare with the paper in hand, not
    enough to learn who someone is, nor how long their name is."""
    name = name.strip()
    return f"{name[0]}*" if name else "*"


class IssuedDocument(msgspec.Struct, kw_only=True, frozen=True):
    """What the issuing agency confirms about a document with a given code."""

    agency: str
    document: str  # the output concepts' prefix, e.g. "population"
    certificate_no: str
    verification_code: str
    case_id: str
    issued_on: date
    holder: str  # masked by the agency; masked again here in case it is not


class DocumentKind(msgspec.Struct, kw_only=True, frozen=True):
    """A kind of verifiable document, named by the bundle that issues it."""

    document: str
    agency: str
    name_zh: str
    name_en: str


def document_kinds(catalogue: Catalogue) -> dict[str, DocumentKind]:
    """Every kind of document a bundle issues with a verification code, by its prefix."""
    kinds: dict[str, DocumentKind] = {}
    for bundle_id in catalogue.ids():
        for version in catalogue.versions(bundle_id):
            bundle = catalogue.get(bundle_id, version)
            for step in bundle.steps:
                for output in step.outputs:
                    if output.concept.endswith(VERIFICATION_SUFFIX):
                        prefix = output.concept.removesuffix(VERIFICATION_SUFFIX)
                        kinds[prefix] = DocumentKind(
                            document=prefix, agency=step.agency,
                            name_zh=bundle.name_zh, name_en=bundle.name_en,
                        )
    return kinds


class RegisterUnavailable(RuntimeError):
    """The issuing agency could not be asked just now."""


class DocumentRegister(abc.ABC):
    """Where the verification page asks after a code (a class, not a Protocol: the
    gateway's dependency injection checks what it injects by its type)."""

    @abc.abstractmethod
    async def find(self, code: str) -> IssuedDocument | None:
        """The document issued with this (normalised) code, or None; raises
        RegisterUnavailable when the register cannot be asked."""


class AgencyDocuments(DocumentRegister):
    """The registers of the agencies that issue verifiable documents, over HTTP:
    GET <agency base URL>/documents/<code> answers the document or 404."""

    def __init__(
        self, agency_urls: Mapping[str, str], agencies: Sequence[str], timeout: float = 5.0
    ) -> None:
        self._urls = [agency_urls[a].rstrip("/") for a in agencies if a in agency_urls]
        self._timeout = timeout

    @classmethod
    def for_catalogue(
        cls, agency_urls: Mapping[str, str], catalogue: Catalogue
    ) -> AgencyDocuments:
        agencies = sorted({k.agency for k in document_kinds(catalogue).values()})
        return cls(agency_urls, agencies)

    async def find(self, code: str) -> IssuedDocument | None:
        async with httpx.AsyncClient(timeout=self._timeout) as http:
            for base in self._urls:
                try:
                    response = await http.get(f"{base}/documents/{code}")
                except httpx.HTTPError as exc:
                    raise RegisterUnavailable(f"{base}: {type(exc).__name__}") from exc
                if response.status_code == 404:
                    continue
                if response.status_code != 200:
                    raise RegisterUnavailable(f"{base}: answered {response.status_code}")
                found = msgspec.json.decode(response.content, type=IssuedDocument)
                return msgspec.structs.replace(found, holder=mask_name(found.holder))
        return None


class NoDocuments(DocumentRegister):
    """A gateway configured with no agency register: nothing can be verified."""

    async def find(self, code: str) -> IssuedDocument | None:
        raise RegisterUnavailable("no document register is configured")
