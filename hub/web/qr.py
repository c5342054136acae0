"""QR codes for authenticator set-up, drawn on the server as inline SVG (segno).

Inline SVG needs no image route and no script, so the page's CSP is unchanged; the code is drawn
black on a white quiet zone, as authenticator apps' cameras expect, whatever the page's colours.
"""

from __future__ import annotations

import segno
from markupsafe import Markup

_SCALE = 5  # pixels per module: about 200 px across for a TOTP link, easy for a phone camera


def qr_svg(text: str, label: str) -> Markup:
    """``text`` as a QR code in an ``<svg role="img">`` whose accessible name is ``label``."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(scale=_SCALE, border=4, title=label, svgclass="app-qr", light="#fff")
    # segno writes only the QR's own markup; the label is escaped before it goes in.
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 - built by segno
