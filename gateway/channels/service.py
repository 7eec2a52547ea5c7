"""The online channel's service catalogue, and what a start through one of its entries
tells the notebook.

The catalogue is data about the channel, not about any workflow: one TOML file per
channel and version in this folder (gateway/channels/) lists each service (a bundle id),
the entries that reach it in the app (home tile, menu, search) and whether its demand
earns it a direct entry. current.toml names the version the app runs now. A start through search of
a service that should have a direct entry and has none is a search-only entry: recorded
once per case through the notebook's one ingest path, with an event id derived from the
case number, so a retried request (the same Idempotency-Key, the same case) never
records it twice. Giving the service a home tile is a new catalogue version, and from
then on its starts record nothing.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path

import msgspec
from opentelemetry import trace

from friction.ingest import ingest, with_trace_id
from friction.store import FrictionStore
from gateway.channels.schemas import ChannelStart, ServiceCatalogue, ServiceCatalogueError
from gateway.errors import invalid_field
from kernel.events import SearchOnlyEntry
from workflows import detectors
from workflows.definition import BundleDefinition

CHANNELS_DIR = Path(__file__).parent
ONLINE = "online"

_SERVICE_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_FILE_NAME = re.compile(r"(?P<channel>[a-z]+)\.v(?P<version>[1-9]\d*)\.toml")


def validate(catalogue: ServiceCatalogue, origin: str) -> ServiceCatalogue:
    """Check what msgspec's types cannot; the error names the file and the place."""

    def fail(where: str, what: str) -> ServiceCatalogueError:
        return ServiceCatalogueError(f"{origin}: {where}: {what}")

    if not catalogue.channel.strip():
        raise fail("channel", "name the channel")
    if catalogue.version < 1:
        raise fail("version", "must be 1 or more")
    named = _FILE_NAME.fullmatch(origin)
    if named and (named["channel"], int(named["version"])) != (
        catalogue.channel, catalogue.version
    ):
        raise fail("version", f"the file holds {catalogue.channel} version {catalogue.version}; "
                   f"name it {catalogue.channel}.v{catalogue.version}.toml")
    if not catalogue.services:
        raise fail("services", "list at least one service")
    seen: set[str] = set()
    for i, s in enumerate(catalogue.services):
        where = f"services[{i}]"
        if not _SERVICE_ID.fullmatch(s.service):
            raise fail(f"{where}.service", f"{s.service!r} is not a bundle id")
        if s.service in seen:
            raise fail(f"{where}.service", f"{s.service!r} is listed twice")
        seen.add(s.service)
        if not s.entries:
            raise fail(f"{where}.entries", "a service needs at least one entry")
        if len(set(s.entries)) != len(s.entries):
            raise fail(f"{where}.entries", "an entry is listed twice")
    return catalogue


def load_service_catalogue(path: Path) -> ServiceCatalogue:
    try:
        catalogue = msgspec.toml.decode(path.read_bytes(), type=ServiceCatalogue)
    except msgspec.ValidationError as exc:
        raise ServiceCatalogueError(f"{path.name}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ServiceCatalogueError(f"{path.name}: not TOML: {exc}") from exc
    return validate(catalogue, path.name)


class _Pins(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    current: dict[str, int]


def service_catalogue(
    channel: str = ONLINE, version: int | None = None, folder: Path = CHANNELS_DIR
) -> ServiceCatalogue:
    """A channel's catalogue: `version`, or the one current.toml names."""
    if version is None:
        pins_file = folder / "current.toml"
        try:
            pins = msgspec.toml.decode(pins_file.read_bytes(), type=_Pins)
        except (OSError, msgspec.DecodeError) as exc:
            raise ServiceCatalogueError(f"{pins_file.name}: {exc}") from exc
        if channel not in pins.current:
            raise ServiceCatalogueError(f"current.toml: [current] names no {channel} version")
        version = pins.current[channel]
    path = folder / f"{channel}.v{version}.toml"
    if not path.exists():
        raise ServiceCatalogueError(f"{channel} version {version}: no file {path.name}")
    return load_service_catalogue(path)


class OnlineEntries:
    """Starts through the online channel: the entry is checked against the channel's
    service catalogue before the case opens, and a search-only entry is recorded in the
    notebook once the case exists."""

    def __init__(self, services: ServiceCatalogue, store: FrictionStore) -> None:
        self.services = services
        self._store = store

    def check(self, data: ChannelStart) -> None:
        """Refuse an entry the catalogue does not know: the app and the catalogue have
        drifted apart, and counting friction from either would be wrong."""
        if data.entry is None:
            return
        catalogue = self.services
        if data.channel != catalogue.channel:
            raise invalid_field(
                "entry", f"only starts through the {catalogue.channel} channel name an entry"
            )
        offered = catalogue.service(data.bundle)
        if offered is None:
            raise invalid_field(
                "entry", f"the {catalogue.channel} channel (catalogue version "
                f"{catalogue.version}) offers no {data.bundle!r}",
            )
        if data.entry not in offered.entries:
            raise invalid_field(
                "entry", f"{data.bundle} has no {data.entry} entry in the {catalogue.channel} "
                f"channel (catalogue version {catalogue.version}: {', '.join(offered.entries)})",
            )

    def search_only_entry(
        self, case_id: str, definition: BundleDefinition, data: ChannelStart, at: datetime
    ) -> SearchOnlyEntry | None:
        # Where the kind is detected is the workflows' detectors, for every channel.
        return detectors.search_only_entry(
            case_id, definition.id, definition.version, data.centre, self.services.channel,
            at, self.services.version, searched=data.entry == "search",
            search_only=self.services.search_only(definition.id),
        )

    async def record(
        self, case_id: str, definition: BundleDefinition, data: ChannelStart, at: datetime
    ) -> None:
        event = self.search_only_entry(case_id, definition, data, at)
        if event is None:
            return
        # The request's trace, so the stuck point's evidence leads to the start.
        traced = with_trace_id(event, trace.get_current_span())
        await asyncio.to_thread(ingest, self._store, [traced])
