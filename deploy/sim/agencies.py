"""A simulator of the agencies a bundle deals with, served over real HTTP.

Each agency lives under its own path prefix, so a real agency endpoint can replace a
simulated one by changing a base URL. Latency, faults, pending decisions and rejections
are set per agency through the admin API, which tests and demos use to make agencies slow,
flaky or strict. State is held in memory by one AgencySim per app.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import secrets
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import uvicorn
from litestar import Litestar, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter, RawBody
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from deploy.settings import AGENCIES
from deploy.sim.population import Citizen, allowance_due, generate, lookup_values
from gateway.issued_documents import (
    CODE_ALPHABET,
    CODE_GROUP,
    CODE_GROUPS,
    VERIFICATION_SUFFIX,
    IssuedDocument,
    format_code,
    mask_name,
)
from kernel.china_time import local_date

# Agency id -> the lookup sources it answers, for every agency the product configures (the
# others answer none). "ecert" answers with certificate lists instead.
_SOURCES: dict[str, frozenset[str]] = {
    "public-security": frozenset({"identity", "household", "lease"}),
    "hrss": frozenset({"insurance_history", "bank_account", "employment_contract",
                       "insurance_lines"}),
    "civil-affairs": frozenset({"low_income"}),
}
LOOKUPS: dict[str, frozenset[str]] = {a: _SOURCES.get(a, frozenset()) for a in AGENCIES}
SUBMITTING = frozenset({"public-security", "hrss", "civil-affairs", "social-insurance",
                        "medical-insurance", "community", "finance"})
# Prefixes of the numbers an agency issues: pinyin initials of 公安, 人社, 民政, 社保, 医保, 社区,
# 财政.
ABBREVIATIONS = {"public-security": "GA", "hrss": "RS", "civil-affairs": "MZ",
                 "social-insurance": "SB", "medical-insurance": "YB", "community": "SQ",
                 "finance": "CZ"}
# The population registry check (承诺+核验): an approval asked for this concept answers
# "yes" when the address the citizen committed to is their registered one, else "no".
# The form names the citizen and the address by these fields.
REGISTRY_FOUND = "registry.found"
REGISTRY_ID_FIELD = "id_number"
REGISTRY_ADDRESS_FIELD = "residence_address"
# The allowance for residents aged 80+ (高龄津贴): civil affairs lists who is due and not
# yet paid; finance approving a payment that asks for allowance.* outputs for the form's
# id_number pays that citizen from then on.
ALLOWANCE_PAYER = "finance"
ALLOWANCE_OUTPUTS = "allowance."
ALLOWANCE_ID_FIELD = "id_number"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MAX_LATENCY_MS = 600_000

T = TypeVar("T")


class Reason(msgspec.Struct, kw_only=True, frozen=True):
    code: str
    message_zh: str
    message_en: str
    field: str | None = None
    material: str | None = None


# Used when a rejection is drawn but the agency has no reasons configured: a real agency
# always says something.
DEFAULT_REASON = Reason(code="not_approved", message_zh="申请未通过审核",
                        message_en="The application did not pass review")


class Behaviour(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_LATENCY_MS)] = 0
    failure_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    pending_polls: Annotated[int, msgspec.Meta(ge=0)] = 0
    reject_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    reject_reasons: tuple[Reason, ...] = ()
    # How many of a step's submissions may draw a rejection: 1 lets the corrected
    # resubmission through; more plays an agency that keeps refusing.
    reject_rounds: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


class SubmissionBody(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    step: str
    form: dict[str, str] = {}
    materials: dict[str, Literal["ecert", "paper"]] = {}
    outputs: tuple[str, ...] = ()  # concepts the approval should return values for


class Decision(msgspec.Struct, kw_only=True, frozen=True):
    receipt: str
    status: Literal["approved", "rejected", "pending"]
    reasons: tuple[Reason, ...] = ()
    outputs: dict[str, str] = {}


class LookupAnswer(msgspec.Struct, kw_only=True, frozen=True):
    values: dict[str, str]


class CertificateList(msgspec.Struct, kw_only=True, frozen=True):
    certificates: tuple[str, ...]


class SubmissionRow(msgspec.Struct, kw_only=True, frozen=True):
    agency: str
    idempotency_key: str
    case_id: str
    step: str
    receipt: str
    registrations: int
    status: str


class Health(msgspec.Struct, kw_only=True, frozen=True):
    status: str


class AllowanceCandidates(msgspec.Struct, kw_only=True, frozen=True):
    """Residents whom household data make due the 80+ allowance in `as_of` (YYYY-MM)
    and whom civil affairs does not pay yet, by ID number."""

    as_of: str
    candidates: tuple[str, ...]


class _Record(msgspec.Struct, kw_only=True):
    """One registered submission; mutable because polls move it from pending to approved."""

    agency: str
    idempotency_key: str
    case_id: str
    step: str
    receipt: str
    requested: tuple[str, ...]
    status: Literal["approved", "rejected", "pending"]
    reasons: tuple[Reason, ...] = ()
    outputs: dict[str, str] = {}
    decided: dict[str, str] = {}  # outputs the submission itself decides, not issued numbers
    polls_left: int = 0
    registrations: int = 0
    citizen: str | None = None  # the form's ID number, for an allowance payment
    holder: str = ""  # the applicant's name in the agency's own records, for documents

    def decision(self) -> Decision:
        return Decision(receipt=self.receipt, status=self.status, reasons=self.reasons,
                        outputs=dict(self.outputs))


def problem(status: int, title: str, detail: str, **extra: Any) -> ProblemDetailsException:
    return ProblemDetailsException(status_code=status, title=title, detail=detail,
                                   extra=extra or None)


def _fraction(*parts: str) -> float:
    """A stable number in [0, 1) for the parts, so a case's fate does not depend on luck."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _issued_code(agency: str, receipt: str, concept: str) -> str:
    digest = hashlib.sha256(f"{receipt}\x1f{concept}".encode()).digest()
    return f"{ABBREVIATIONS[agency]}-{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


def _address_key(address: str) -> str:
    """An address as the registry compares it: full-width forms folded, no spaces."""
    return "".join(unicodedata.normalize("NFKC", address).split())


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<name>[^`]+)`")


def _field_of(message: str) -> str | None:
    """The body field a msgspec validation message is about, e.g. "reject_reasons[0].code"."""
    at = _AT.search(message)
    path = at.group("path") if at else ""
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return path or None


def decode_body(body: bytes, into: type[T]) -> T:
    """Decode a JSON body, answering 400 problem details that name the offending field."""
    try:
        return msgspec.json.decode(body, type=into)
    except msgspec.ValidationError as exc:
        field = _field_of(str(exc))
        raise problem(400, "Invalid request body", str(exc), field=field) from exc
    except msgspec.DecodeError as exc:
        raise problem(400, "Malformed JSON body", str(exc)) from exc


class AgencySim:
    """All simulator state and rules; the HTTP handlers only translate to and from it.

    Methods that change state do so without awaiting, so concurrent requests with the same
    idempotency key cannot both register: the event loop runs each check-and-store whole.
    """

    def __init__(self, citizens: list[Citizen]) -> None:
        self.citizens = list(citizens)
        self._by_id = {c.id_number: c for c in citizens}
        self._rng = random.Random()
        self.reset()

    def reset(self) -> None:
        self._behaviours: dict[str, Behaviour] = {}
        self._records: dict[tuple[str, str], _Record] = {}  # (agency, idempotency key)
        self._by_receipt: dict[str, _Record] = {}
        # (agency, case, step) -> submissions so far
        self._seen_steps: dict[tuple[str, str, str], int] = {}
        self._allowance_paid = {c.id_number for c in self.citizens if c.allowance_paid}
        self._documents: dict[str, IssuedDocument] = {}  # issued, by verification code

    # The allowance for residents aged 80+

    def allowance_candidates(self, month: str) -> tuple[str, ...]:
        return tuple(sorted(
            c.id_number for c in self.citizens
            if allowance_due(c, month) and c.id_number not in self._allowance_paid
        ))

    # Behaviour

    def behaviour(self, agency: str) -> Behaviour:
        return self._behaviours.get(agency, Behaviour())

    def set_behaviour(self, agency: str, behaviour: Behaviour) -> None:
        self._behaviours[agency] = behaviour

    def inject_fault(self, agency: str) -> None:
        if self._rng.random() < self.behaviour(agency).failure_rate:
            raise ProblemDetailsException(
                status_code=503, title="Agency unavailable",
                detail=f"{agency} is temporarily unavailable (simulated fault)",
                headers={"Retry-After": "1"},
            )

    async def delay(self, agency: str) -> None:
        latency_ms = self.behaviour(agency).latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)

    # Lookups

    def lookup(self, agency: str, source: str, citizen: str) -> dict[str, str]:
        person = self._by_id.get(citizen.upper())
        values = lookup_values(person, source) if person is not None else None
        if values is None:
            raise problem(404, "No record", f"{agency} holds no {source} record for this citizen")
        return values

    def certificates(self, citizen: str) -> tuple[str, ...]:
        person = self._by_id.get(citizen.upper())
        return person.certificates if person is not None else ()

    # Submissions

    def stored(self, agency: str, key: str) -> _Record | None:
        return self._records.get((agency, key))

    def register(self, agency: str, key: str, body: SubmissionBody) -> _Record:
        """Count a new submission and decide on it."""
        behaviour = self.behaviour(agency)
        reasons = [
            Reason(code="missing_field", message_zh=f"必填项“{name}”未填写",
                   message_en=f"Required field {name!r} is empty", field=name)
            for name, value in body.form.items()
            if not value.strip()
        ]
        # Only a step's first submissions (reject_rounds) may draw a rejection, so a corrected
        # resubmission goes through; the draw hashes the case so it always meets the same fate.
        step_key = (agency, body.case_id, body.step)
        self._seen_steps[step_key] = self._seen_steps.get(step_key, 0) + 1
        first = self._seen_steps[step_key] <= behaviour.reject_rounds
        if first and _fraction(body.case_id, body.step) < behaviour.reject_rate:
            reasons.extend(behaviour.reject_reasons or (DEFAULT_REASON,))
        # The receipt follows from the key, so the same submission always gets the same one.
        digest = hashlib.sha256(f"{agency}\x1f{key}".encode()).hexdigest()[:16].upper()
        receipt = f"{ABBREVIATIONS[agency]}-{digest}"
        record = _Record(agency=agency, idempotency_key=key, case_id=body.case_id,
                         step=body.step, receipt=receipt, requested=body.outputs,
                         decided=self._decided(body),
                         status="pending", polls_left=behaviour.pending_polls,
                         holder=self._holder(body),
                         citizen=body.form.get(ALLOWANCE_ID_FIELD, "").strip().upper() or None)
        if reasons:
            record.status, record.reasons = "rejected", tuple(reasons)
        elif record.polls_left == 0:
            self._approve(record)
        record.registrations += 1
        self._records[(agency, key)] = record
        self._by_receipt[receipt] = record
        return record

    def poll(self, agency: str, receipt: str) -> _Record:
        record = self._by_receipt.get(receipt)
        if record is None or record.agency != agency:
            raise problem(404, "Unknown receipt", f"{agency} issued no receipt {receipt!r}")
        if record.status == "pending":
            record.polls_left -= 1
            if record.polls_left <= 0:
                self._approve(record)
        return record

    def _decided(self, body: SubmissionBody) -> dict[str, str]:
        """Outputs that follow from what was submitted: whether the population registry
        holds the citizen at the committed address, the same answer every time."""
        if REGISTRY_FOUND not in body.outputs:
            return {}
        person = self._by_id.get(body.form.get(REGISTRY_ID_FIELD, "").strip().upper())
        committed = _address_key(body.form.get(REGISTRY_ADDRESS_FIELD, ""))
        found = person is not None and committed == _address_key(person.address)
        return {REGISTRY_FOUND: "yes" if found else "no"}

    def _approve(self, record: _Record) -> None:
        # The agency's date is China's, whatever zone the machine keeps.
        today = local_date(datetime.now(UTC)).isoformat()
        record.status = "approved"
        record.outputs = {
            concept: record.decided[concept] if concept in record.decided
            else today if concept.endswith("_on")
            else _issued_code(record.agency, record.receipt, concept)
            for concept in record.requested
        }
        for concept in record.requested:
            if concept.endswith(VERIFICATION_SUFFIX):
                self._issue(record, concept.removesuffix(VERIFICATION_SUFFIX), today)
        if (record.agency == ALLOWANCE_PAYER and record.citizen in self._by_id
                and any(c.startswith(ALLOWANCE_OUTPUTS) for c in record.requested)):
            self._allowance_paid.add(record.citizen)

    def _holder(self, body: SubmissionBody) -> str:
        """Whom a document issued on this submission is about: the person the form's
        id_number names, by the agency's own record of their name."""
        person = self._by_id.get(body.form.get("id_number", "").strip().upper())
        return person.name if person is not None else body.form.get("applicant_name", "")

    def _issue(self, record: _Record, document: str, today: str) -> None:
        """Register an issued document under a fresh random verification code: nothing
        about the person or the case lets anyone compute it."""
        while True:
            code = format_code("".join(secrets.choice(CODE_ALPHABET)
                                       for _ in range(CODE_GROUPS * CODE_GROUP)))
            if code not in self._documents:
                break
        record.outputs[f"{document}{VERIFICATION_SUFFIX}"] = code
        self._documents[code] = IssuedDocument(
            agency=record.agency, document=document,
            certificate_no=record.outputs.get(f"{document}.certificate_no", record.receipt),
            verification_code=code, case_id=record.case_id,
            issued_on=date.fromisoformat(record.outputs.get(f"{document}.issued_on", today)),
            holder=mask_name(record.holder),
        )

    def document(self, agency: str, code: str) -> IssuedDocument:
        found = self._documents.get(code.upper())
        if found is None or found.agency != agency:
            raise problem(404, "No such document",
                          f"{agency} issued no document with this verification code")
        return found

    def rows(self, case_id: str | None) -> list[SubmissionRow]:
        return [
            SubmissionRow(agency=r.agency, idempotency_key=r.idempotency_key, case_id=r.case_id,
                          step=r.step, receipt=r.receipt, registrations=r.registrations,
                          status=r.status)
            for r in self._records.values()
            if case_id is None or r.case_id == case_id
        ]


def _known(agency: str, among: frozenset[str] | tuple[str, ...]) -> None:
    if agency not in among:
        raise problem(404, "Unknown agency", f"no agency {agency!r} here", agency=agency)


# The citizen's ID number travels in a header, never in a URL that proxies and access
# logs keep.
CitizenHeader = Annotated[str, HeaderParameter(name="X-Citizen-Id", max_length=18)]


def create_app(citizens: list[Citizen]) -> Litestar:
    sim = AgencySim(citizens)

    @get("/healthz")
    async def healthz() -> Health:
        return Health(status="ok")

    @get("/{agency:str}/lookup/{source:str}")
    async def look_up(
        agency: FromPath[str], source: FromPath[str], citizen: CitizenHeader
    ) -> LookupAnswer:
        _known(agency, AGENCIES)
        if source not in LOOKUPS[agency]:
            raise problem(404, "Unknown lookup source",
                          f"{agency} does not serve lookup source {source!r}", source=source)
        sim.inject_fault(agency)
        await sim.delay(agency)
        return LookupAnswer(values=sim.lookup(agency, source, citizen))

    @get("/ecert/certificates")
    async def certificates(citizen: CitizenHeader) -> CertificateList:
        sim.inject_fault("ecert")
        await sim.delay("ecert")
        return CertificateList(certificates=sim.certificates(citizen))

    @get("/civil-affairs/allowance-candidates")
    async def allowance_candidates(as_of: FromQuery[str]) -> AllowanceCandidates:
        """Who is due the 80+ allowance in the month `as_of` and not yet paid: household
        data matched against civil affairs' payments (the ID numbers travel in the body)."""
        if not _MONTH.fullmatch(as_of):
            raise problem(400, "Invalid month", "as_of is a month: YYYY-MM", field="as_of")
        sim.inject_fault("civil-affairs")
        await sim.delay("civil-affairs")
        return AllowanceCandidates(as_of=as_of, candidates=sim.allowance_candidates(as_of))

    @post("/{agency:str}/submissions", status_code=200)
    async def submit(
        agency: FromPath[str],
        body: RawBody,
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Decision:
        _known(agency, SUBMITTING)
        if not idempotency_key:
            raise problem(400, "Missing Idempotency-Key",
                          "submissions need an Idempotency-Key header", header="Idempotency-Key")
        submission = decode_body(body, SubmissionBody)
        record = sim.stored(agency, idempotency_key)
        if record is None:
            # Fault before registering, latency after: a client that gives up during the
            # latency leaves a registration its retry must find, not duplicate.
            sim.inject_fault(agency)
            record = sim.register(agency, idempotency_key, submission)
        await sim.delay(agency)
        return record.decision()

    @get("/{agency:str}/submissions/{receipt:str}")
    async def poll(agency: FromPath[str], receipt: FromPath[str]) -> Decision:
        _known(agency, SUBMITTING)
        sim.inject_fault(agency)
        record = sim.poll(agency, receipt)
        await sim.delay(agency)
        return record.decision()

    @get("/{agency:str}/documents/{code:str}")
    async def verify_document(agency: FromPath[str], code: FromPath[str]) -> IssuedDocument:
        """The register of issued documents: what the agency confirms about a document
        with this verification code (its holder masked), or 404."""
        _known(agency, SUBMITTING)
        sim.inject_fault(agency)
        await sim.delay(agency)
        return sim.document(agency, code)

    @put("/admin/behaviour/{agency:str}")
    async def set_behaviour(agency: FromPath[str], body: RawBody) -> Behaviour:
        _known(agency, AGENCIES)
        behaviour = decode_body(body or b"{}", Behaviour)
        sim.set_behaviour(agency, behaviour)
        return behaviour

    @get("/admin/behaviour/{agency:str}")
    async def get_behaviour(agency: FromPath[str]) -> Behaviour:
        _known(agency, AGENCIES)
        return sim.behaviour(agency)

    @get("/admin/submissions")
    async def submissions(case_id: FromQuery[str | None] = None) -> list[SubmissionRow]:
        return sim.rows(case_id)

    @get("/admin/citizens")
    async def population(
        limit: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> list[Citizen]:
        return sim.citizens if limit is None else sim.citizens[:limit]

    @post("/admin/reset", status_code=204)
    async def reset() -> None:
        sim.reset()

    return Litestar(
        route_handlers=[healthz, look_up, certificates, allowance_candidates, submit, poll,
                        verify_document, set_behaviour, get_behaviour, submissions, population,
                        reset],
        logging_config=None,  # the process's logging (deploy.logs), as the gateway's
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True))],
        state=State({"sim": sim}),
    )


def serve(host: str, port: int, seed: int, size: int, elderly: int = 0) -> None:
    """Run the simulator over a generated population until interrupted."""
    uvicorn.run(create_app(generate(seed=seed, size=size, elderly=elderly)), host=host,
                port=port, log_config=None)
