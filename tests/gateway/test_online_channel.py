"""The online channel's service catalogue: versions, the search-only rule, and files
refused at load with the file and the place named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cases.schemas import OpenCase
from gateway.channels.schemas import ServiceCatalogueError
from gateway.channels.service import (
    CHANNELS_DIR,
    OnlineEntries,
    load_service_catalogue,
    service_catalogue,
)
from workflows.definition import Catalogue

V1 = (CHANNELS_DIR / "online.v1.toml").read_text(encoding="utf-8")


def test_version_1_is_the_app_the_data_bureau_found_and_version_2_the_fix() -> None:
    v1, v2 = service_catalogue("online", 1), service_catalogue("online", 2)
    assert v1.service("population-certificate").entries == ("search",)  # type: ignore[union-attr]
    assert v1.search_only("population-certificate")
    assert not v2.search_only("population-certificate")
    assert "home_tile" in v2.service("population-certificate").entries  # type: ignore[union-attr]
    # A service with a menu place is not search-only, in either version.
    assert not v1.search_only("employment-hardship")
    assert service_catalogue("online") == v1  # current.toml: the app as it runs now
    for catalogue in (v1, v2):
        catalogue.check_bundles(Catalogue.load().ids())


def test_only_a_search_start_without_a_due_direct_entry_is_an_event() -> None:
    bundle = Catalogue.load().default("population-certificate")
    at = datetime.now(UTC)

    def start(entry: str) -> OpenCase:
        return OpenCase(bundle=bundle.id, citizen_id_number="-", centre="online-app",
                        channel="online", entry=entry)  # type: ignore[arg-type]

    v1 = OnlineEntries(service_catalogue("online", 1), store=None)  # type: ignore[arg-type]
    v2 = OnlineEntries(service_catalogue("online", 2), store=None)  # type: ignore[arg-type]
    event = v1.search_only_entry("20260315-ABCDEFGH", bundle, start("search"), at)
    assert event is not None and event.event_id == "20260315-ABCDEFGH/entry"
    assert (event.service, event.channel, event.step) == (bundle.id, "online", None)
    assert "v1" in event.entry_path
    assert v2.search_only_entry("20260315-ABCDEFGH", bundle, start("search"), at) is None
    assert v2.search_only_entry("20260315-ABCDEFGH", bundle, start("home_tile"), at) is None


def write(tmp_path: Path, text: str, name: str = "online.v1.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('entries = ["search"]', 'entries = ["banner"]'), "entries"),
        (lambda t: t.replace('entries = ["search"]', "entries = []"), "at least one entry"),
        (lambda t: t.replace('entries = ["search"]', 'entries = ["search", "search"]'),
         "listed twice"),
        (lambda t: t.replace('service = "employment-hardship"',
                             'service = "population-certificate"'), "listed twice"),
        (lambda t: t.replace('service = "employment-hardship"', 'service = "Jobs!"'),
         "not a bundle id"),
        (lambda t: t.replace("version = 1", "version = 2"), "name it online.v2.toml"),
        (lambda t: t.replace("should_have_direct_entry = true",
                             "should_have_direct_entry = true\nposition = 3", 1), "position"),
        (lambda t: t.replace('channel = "online"', "channel = 5"), "channel"),
    ],
)
def test_bad_catalogues_are_refused_naming_the_place(
    tmp_path: Path, edit: object, message: str
) -> None:
    text = edit(V1)  # type: ignore[operator]
    assert text != V1
    with pytest.raises(ServiceCatalogueError, match=message) as err:
        load_service_catalogue(write(tmp_path, text))
    assert "online.v1.toml" in str(err.value)


def test_a_pin_or_a_service_naming_nothing_is_refused(tmp_path: Path) -> None:
    write(tmp_path, V1)
    (tmp_path / "current.toml").write_text("[current]\nonline = 3\n", encoding="utf-8")
    with pytest.raises(ServiceCatalogueError, match=r"no file online\.v3\.toml"):
        service_catalogue("online", folder=tmp_path)
    with pytest.raises(ServiceCatalogueError, match="names no kiosk version"):
        service_catalogue("kiosk", folder=tmp_path)
    with pytest.raises(ServiceCatalogueError, match="'population-certificate' is no bundle"):
        service_catalogue("online", 1).check_bundles(["employment-hardship"])
