"""Names instead of ids, in the reader's language: the one lookup pages and the CLI use.

What a name comes from, each defined once: centres (gateway.centre_directory), bundles,
steps, fields, materials and milestones (the bundle definitions' own name_zh/name_en and
label_zh/label_en), agencies, performers, dossier concepts, coded values and
e-certificate types (workflows/vocabulary.toml), material rules (their wording in
workflows.material_rules), and the notebook's own words (friction kinds, note
categories, causes, remedies), which are gettext messages marked here and translated by
the catalogues. An id nothing names is shown as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Literal, get_args

from jinja2 import pass_context

from friction.backlog import Status
from friction.register import CAUSES
from friction.stuck_points import StuckPoint, Term, remedy_of
from gateway.accounts import ROLES
from gateway.centre_directory import centre_of
from gateway.i18n import DEFAULT_LANG, Lang, as_lang, translations
from kernel.events import FRICTION_KINDS
from workflows.definition import BundleDefinition, Catalogue, StepSpec
from workflows.material_rules import RULES
from workflows.vocabulary import Vocabulary, terms

Of = Literal["centre", "bundle", "step", "field", "material", "milestone", "agency",
             "performer", "concept", "value", "ecert", "source", "kind", "category",
             "cause", "rule", "subject", "role", "status"]
OFS: tuple[Of, ...] = get_args(Of)
STATUSES: tuple[Status, ...] = get_args(Status)


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is chosen, translated where it is shown."""
    return message


KIND_WORDS = {
    "manual_reentry": N_("Typed again although known"),
    "search_only_entry": N_("Reached only by search"),
    "extra_wait": N_("Waited past the time limit"),
    "physical_material": N_("Paper asked for although held"),
    "repeat_trip": N_("Came back again"),
    "piecemeal_rejection": N_("Rejected piece by piece"),
    "cant_get_it_done": N_("Could not get it done"),
    "clerk_note": N_("Clerk's note"),
}
if set(KIND_WORDS) != set(FRICTION_KINDS):  # words for every kind the notebook has, no other
    raise RuntimeError(f"KIND_WORDS differ: {set(KIND_WORDS) ^ set(FRICTION_KINDS)}")
# A clerk's note's categories (friction.notebook.NOTE_CATEGORIES), and what the notebook's
# older notes and other channels' notes may say.
CATEGORY_WORDS = {
    "system": N_("System"),
    "form": N_("Form"),
    "material": N_("Material"),
    "entry": N_("Entry to the service"),
    "policy": N_("Policy"),
    "other": N_("Other"),
}
CAUSE_WORDS = {
    "policy": N_("Policy does not allow it"),
    "system": N_("System fault"),
    "materials": N_("Materials asked for"),
    "service_attitude": N_("Service attitude"),
    "acceptance": N_("Application not accepted"),
    "consultation": N_("No clear answer to a question"),
    "approval_procedure": N_("Approval procedure"),
    "applicant": N_("The applicant's own failure"),
}
if not set(CAUSES) <= set(CAUSE_WORDS):
    raise RuntimeError(f"CAUSE_WORDS lack {set(CAUSES) - set(CAUSE_WORDS)}")
# What a stuck point's subject is when it is no id of the case's definition.
SUBJECT_WORDS = {
    "form": N_("the form"),
    "trip": N_("return trips"),
    "step": N_("the step"),
    "agency_call": N_("calls to the agency"),
    "queue": N_("the queue"),
}
# The fields of a request a refusal may name (a form's own fields are named by their
# definition's labels).
FIELD_WORDS = {
    "citizen_id_number": N_("Citizen's ID number"),
    "bundle": N_("Bundle"),
    "centre": N_("Service centre"),
    "channel": N_("Channel"),
    "entry": N_("Entry to the service"),
    "case_id": N_("Case number"),
    "step": N_("Step"),
    "values": N_("Values typed"),
    "material": N_("Material"),
    "reason": N_("Reason"),
    "reasons": N_("Reasons"),
    "again_today": N_("Came again today"),
    "again_today_reason": N_("Why again today"),
    "milestone": N_("Milestone"),
    "evidence_ref": N_("Evidence"),
    "category": N_("Note category"),
    "about_kind": N_("Kind of friction"),
    "subject": N_("What it is about"),
    "text": N_("Text"),
    "department": N_("Department"),
    "cause": N_("Cause"),
    "username": N_("Account"),
    "since": N_("Start date"),
    "until": N_("End date (inclusive)"),
    "owner": N_("Owner"),
    "answer": N_("Answer"),
    "level": N_("Level"),
    "lead": N_("Lead"),
}
ROLE_WORDS = {
    "clerk": N_("Window clerk"),
    "analyst": N_("Data bureau analyst"),
    "developer": N_("Developer"),
    "admin": N_("Administrator"),
    "auditor": N_("Auditor"),
    "channel": N_("Channel service"),
}
if set(ROLE_WORDS) != set(ROLES):
    raise RuntimeError(f"ROLE_WORDS differ: {set(ROLE_WORDS) ^ set(ROLES)}")
# Where a value or document was already held ("<kind>:<source>").
SOURCE_KIND_WORDS = {
    "agency": N_("Agency record"),
    "ecert": N_("E-certificate"),
    "step": N_("Earlier step"),
    "clerk": N_("Clerk's entry"),
}
_VOCABULARY: dict[str, Vocabulary] = {"agency": "agencies", "performer": "performers",
                                      "concept": "concepts", "value": "values",
                                      "ecert": "ecerts"}
# A backlog item's status, as the console and the CLI say it.
STATUS_WORDS: dict[str, str] = {
    "new": N_("New"),
    "triaged": N_("Assigned"),
    "in_progress": N_("Being fixed"),
    "fix_deployed": N_("Fix deployed"),
    "verified": N_("Verified"),
    "reopened": N_("Reopened"),
}
if set(STATUS_WORDS) != set(STATUSES):
    raise RuntimeError(f"STATUS_WORDS differ: {set(STATUS_WORDS) ^ set(STATUSES)}")
_GETTEXT: dict[str, dict[str, str]] = {"kind": KIND_WORDS, "category": CATEGORY_WORDS,
                                       "cause": CAUSE_WORDS, "role": ROLE_WORDS,
                                       "status": STATUS_WORDS}


# What a subject no definition names may be, in this order unless its point's kind says.
_SUBJECT_OF: tuple[Of, ...] = ("rule", "cause", "category", "ecert", "concept", "agency")
_SUBJECT_OF_KIND: dict[str, tuple[Of, ...]] = {
    "cant_get_it_done": ("cause",), "clerk_note": ("category",),
    "piecemeal_rejection": ("rule",),
}


@functools.cache
def default_catalogue() -> Catalogue:
    return Catalogue.load()


class Names:
    """Names of ids in `lang`, the bundles' from `catalogue`."""

    def __init__(self, lang: Lang, catalogue: Catalogue | None = None) -> None:
        self.lang = lang
        self.catalogue = catalogue or default_catalogue()
        self._text = translations(lang)

    def say(self, message: str) -> str:
        return self._text.ugettext(message)

    def _pick(self, thing: Any, attr: str) -> str:
        return str(getattr(thing, f"{attr}_{self.lang}", None) or getattr(thing, f"{attr}_zh"))

    def _definitions(self, bundle: str | None) -> list[BundleDefinition]:
        """The bundle's definitions, newest first (every bundle's without one)."""
        ids = [bundle] if bundle in self.catalogue.ids() else (
            [] if bundle else self.catalogue.ids())
        return [self.catalogue.get(b, v) for b in ids
                for v in reversed(self.catalogue.versions(b))]

    def _steps(self, bundle: str | None, step: str | None) -> list[StepSpec]:
        """The steps to look a field or material up in: the named step first."""
        steps = [s for d in self._definitions(bundle) for s in d.steps]
        return sorted(steps, key=lambda s: s.id != step)

    def name(self, of: Of, key: str | None, bundle: str | None = None,
             step: str | None = None, kind: str | None = None) -> str:
        """`key` of `of` by name; a subject is named as a point of `kind` names it."""
        if key is None or key == "":
            return "—"
        if of == "centre":
            return self._pick(centre_of(key), "name")
        if of in _VOCABULARY:
            term = terms().of(_VOCABULARY[of]).get(key)
            return key if term is None else (term.en if self.lang == "en" else term.zh)
        if of in _GETTEXT:
            message = _GETTEXT[of].get(key)
            return key if message is None else self.say(message)
        if of == "rule":
            rule = RULES.get(key)
            return key if rule is None else self._pick(rule, "wording")
        if of == "source":
            return self.source(key, bundle)
        if of == "subject":
            return self.subject(key, bundle, step, kind)
        named = self._of_definition(of, key, bundle, step)
        if named is None and of == "field" and key in FIELD_WORDS:
            return self.say(FIELD_WORDS[key])
        return named or key

    def _of_definition(self, of: Of, key: str, bundle: str | None,
                       step: str | None) -> str | None:
        if of == "bundle":
            found = self._definitions(key)
            return self._pick(found[0], "name") if found and found[0].id == key else None
        for s in self._steps(bundle, step):
            if of == "step" and s.id == key:
                return self._pick(s, "name")
            things: tuple[Any, ...] = {"field": s.fields, "material": s.materials,
                                       "milestone": s.milestones}.get(of, ())
            for thing in things:
                if getattr(thing, "name", None) == key or getattr(thing, "id", None) == key:
                    return self._pick(thing, "name" if of == "milestone" else "label")
        return None

    def source(self, key: str, bundle: str | None = None) -> str:
        """Where something was held, "<kind>:<source>" (or a bare agency id)."""
        kind, _, source = key.partition(":")
        if not source:
            return self.name("agency", key)
        of: Of = {"agency": "agency", "ecert": "ecert", "step": "step"}.get(kind, "agency")  # type: ignore[assignment]
        words = SOURCE_KIND_WORDS.get(kind)
        named = self.name(of, source, bundle) if kind != "clerk" else ""
        if kind == "step" and named == source:  # an earlier step's decision, by its agency
            named = self.name("agency", source)
        head = self.say(words) if words else kind
        return f"{head}：{named}" if named and self.lang == "zh" else (
            f"{head}: {named}" if named else head)

    def subject(self, key: str, bundle: str | None = None, step: str | None = None,
                kind: str | None = None) -> str:
        """A stuck point's subject (of a point of `kind`, if known): a field, material,
        step, rule, cause, service, source or a word of the notebook's, whichever names
        it."""
        head, _, rest = key.partition(":")
        if rest and head in SUBJECT_WORDS:  # waits: "agency_call:hrss", "step:<milestone>"
            named = self._of_definition("milestone", rest, bundle, step)
            return f"{self.say(SUBJECT_WORDS[head])} · {named or self.name('agency', rest)}"
        if key in SUBJECT_WORDS:
            return self.say(SUBJECT_WORDS[key])
        if rest and head in ("field", "material"):  # a return trip's reason: a notice item
            return self.name(head, rest, bundle, step)  # type: ignore[arg-type]
        for of in ("field", "material", "step", "bundle"):
            named = self._of_definition(of, key, bundle, step)
            if named:
                return named
        # A word both a cause and a note category may be ("system", "policy"): the kind's.
        first = _SUBJECT_OF_KIND.get(kind or "", ())
        for of in (*first, *_SUBJECT_OF):
            named = self.name(of, key)
            if named != key:
                return named
        return key

    def term(self, term: Term, bundle: str | None, step: str | None) -> str:
        match term.of:
            case "phrase":
                return self.say(term.id)
            case "count":
                return term.id
            case "fields":
                sep = "、" if self.lang == "zh" else ", "
                return sep.join(self.name("field", f, bundle, step) for f in term.id.split(", "))
            case "service":
                return self.name("bundle", term.id)
            case "material":
                return self.subject(term.id, bundle, step)
            case other:
                return self.name(other, term.id, bundle, step)

    def remedy(self, point: StuckPoint) -> str:
        """The stuck point's remedy in the reader's words, names instead of ids."""
        remedy = remedy_of(point.kind, point.subject, point.step, point.known_from,
                           point.details)
        return self.say(remedy.message) % {
            name: self.term(t, point.bundle, point.step) for name, t in remedy.terms.items()}


def names_in(lang: Lang, catalogue: Catalogue | None = None) -> Names:
    return Names(lang, catalogue)


def _names(context: Mapping[str, Any]) -> Names:
    lang = as_lang(context.get("lang")) or DEFAULT_LANG
    catalogue = context.get("catalogue")
    return Names(lang, catalogue if isinstance(catalogue, Catalogue) else None)


@pass_context
def name_of(context: Mapping[str, Any], of: Of, key: str | None, bundle: str | None = None,
            step: str | None = None, kind: str | None = None) -> str:
    """In templates: `{{ name_of("agency", step.agency) }}`, a stuck point's subject
    `{{ name_of("subject", p.subject, p.bundle, p.step, p.kind) }}`."""
    return _names(context).name(of, key, bundle, step, kind)


@pass_context
def remedy_words(context: Mapping[str, Any], point: StuckPoint) -> str:
    """In templates: `{{ remedy_words(point) }}`."""
    return _names(context).remedy(point)


NAME_GLOBALS = {"name_of": name_of, "remedy_words": remedy_words}
