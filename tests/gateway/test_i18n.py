"""Chinese first: every message the console shows has its Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from gateway.i18n import LOCALES_DIR, translations

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,), "say": (2,), "N_": None}


def console_messages() -> set[str]:
    """What `pybabel extract` with babel.cfg finds: the templates' and the code's msgids."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS  # type: ignore[arg-type]
    ):
        found.update([message] if isinstance(message, str) else message)
    return found


def test_every_console_message_has_a_chinese_translation() -> None:
    messages = console_messages()
    assert len(messages) > 100  # the extraction itself works
    zh = translations("zh")
    missing = sorted(m for m in messages if zh.ugettext(m) == m and m)
    assert missing == [], f"untranslated in {LOCALES_DIR / 'zh'}: {missing}"


def test_english_is_the_message_itself() -> None:
    assert translations("en").ugettext("Workbench") == "Workbench"
    assert translations("zh").ugettext("Workbench") == "窗口工作台"
