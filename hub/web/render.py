"""Templates: Jinja2 with autoescaping always on, so HTML in subjects and bodies shows as text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from hub.web.keys import ACTOR, SESSION, TEMPLATES

TEMPLATE_DIR = Path(__file__).parent / "templates"


def _when(value: datetime) -> str:
    return value.strftime("%d %b %Y %H:%M UTC")


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    session = request.get(SESSION)
    context.setdefault("csrf_token", session.csrf_token if session else "")
    context.setdefault("actor", request.get(ACTOR))
    html = env.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
