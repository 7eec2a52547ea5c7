"""A QR code as inline SVG, rendered in memory: the notice carries it, no file is kept."""

from __future__ import annotations

import io

import segno
from markupsafe import Markup


def qr_svg(text: str, title: str) -> Markup:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False,
                                     svgns=True, title=title, svgclass="qr", nl=False)
    return Markup(buffer.getvalue().decode())
