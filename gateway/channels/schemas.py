"""The online channel's service catalogue as data, and what a start through it carries."""

from __future__ import annotations

from typing import Literal, Protocol, get_args

import msgspec

# How a citizen reached a service in the online channel.
EntryKind = Literal["home_tile", "menu", "search"]
ENTRY_KINDS: tuple[str, ...] = get_args(EntryKind)
DIRECT_ENTRIES = frozenset({"home_tile", "menu"})


class ChannelStart(Protocol):
    """What the channel reads of a request that opens a case (cases' OpenCase)."""

    @property
    def bundle(self) -> str: ...
    @property
    def centre(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def entry(self) -> EntryKind | None: ...


class ServiceCatalogueError(ValueError):
    """A service catalogue file is malformed; the message names the file and the place."""


class OfferedService(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    service: str  # the bundle a start of it opens
    entries: tuple[EntryKind, ...]
    should_have_direct_entry: bool = False

    @property
    def has_direct_entry(self) -> bool:
        return any(e in DIRECT_ENTRIES for e in self.entries)


class ServiceCatalogue(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    channel: str
    version: int
    services: tuple[OfferedService, ...]

    def service(self, service: str) -> OfferedService | None:
        return next((s for s in self.services if s.service == service), None)

    def search_only(self, service: str) -> bool:
        """Whether a citizen reaching `service` by search met friction: it should have a
        direct entry, and this version of the channel gives it none."""
        offered = self.service(service)
        return (
            offered is not None
            and offered.should_have_direct_entry
            and not offered.has_direct_entry
        )

    def check_bundles(self, bundle_ids: list[str]) -> None:
        """Every service names a bundle this installation runs."""
        for i, s in enumerate(self.services):
            if s.service not in bundle_ids:
                raise ServiceCatalogueError(
                    f"{self.channel}.v{self.version}.toml: services[{i}].service: "
                    f"{s.service!r} is no bundle of the catalogue ({', '.join(bundle_ids)})"
                )
