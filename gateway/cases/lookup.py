"""Finding cases in Temporal's visibility: by case number (whole, or how it starts), by
the citizen, and a citizen's open case of a bundle (the warning before a second one).

An ID number never reaches Temporal, its visibility or a log: a case carries a keyed
reference to its citizen (SA_CITIZEN, kernel.pseudonym.keyed_ref with the installation's
pseudonym key), and a search by ID number asks for that reference."""

from __future__ import annotations

import re
from collections.abc import Sequence

from temporalio.client import Client, WorkflowExecution
from temporalio.common import SearchAttributeKey

from gateway.cases.schemas import CASE_PREFIX_PATTERN
from gateway.errors import invalid_field
from kernel.pseudonym import keyed_ref
from workflows.case import SA_BUNDLE, SA_CENTRE, SA_CITIZEN

CITIZEN = SearchAttributeKey.for_keyword(SA_CITIZEN)
BUNDLE_CASES = "WorkflowType = 'BundleWorkflow'"
CASE_PREFIX = re.compile(CASE_PREFIX_PATTERN)


def citizen_ref(id_number: str, key: bytes) -> str:
    """The citizen's keyed reference, the same however the number was typed."""
    return keyed_ref(id_number.strip().upper(), key)


def case_number_clause(typed: str) -> str:
    """The visibility clause for a case number or its start (422 naming `case_id` for
    anything else: a quote never reaches the query)."""
    wanted = typed.strip().upper()
    if not CASE_PREFIX.fullmatch(wanted):
        raise invalid_field("case_id", "a case number looks like 20260301-ABCD2345; type "
                            "it whole or from its start (at least its year)")
    if len(wanted) == 17:
        return f"WorkflowId = '{wanted}'"
    return f"WorkflowId STARTS_WITH '{wanted}'"


def citizen_clause(ref: str) -> str:
    return f"{SA_CITIZEN} = '{ref}'"


def centres_clause(centres: Sequence[str]) -> str:
    """Cases of these centres; the names are checked against the installation's first."""
    return f"{SA_CENTRE} IN ({', '.join(repr_quoted(c) for c in centres)})"


def repr_quoted(value: str) -> str:
    if "'" in value or '"' in value:
        raise invalid_field("centre", "quotes are not allowed")
    return f"'{value}'"


async def open_cases_of(
    temporal: Client, ref: str, bundle: str, limit: int = 5
) -> list[WorkflowExecution]:
    """The citizen's running cases of `bundle`, newest first."""
    query = (f"{BUNDLE_CASES} AND ExecutionStatus = 'Running' AND {citizen_clause(ref)} "
             f"AND {SA_BUNDLE} = {repr_quoted(bundle)}")
    return [e async for e in temporal.list_workflows(query, limit=limit)]
