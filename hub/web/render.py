"""Templates: Jinja2 with autoescaping always on, so HTML in subjects and bodies shows as text.

Components come from govuk-frontend-jinja (the GOV.UK Frontend macros ported to Jinja, loaded under
``govuk_frontend_jinja/``); the page layout is ``base.html``, which follows GOV.UK Frontend's page
template without its inline script (the CSP forbids inline script; ``/static/hub.js`` does its job).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    Undefined,
    select_autoescape,
)
from markupsafe import Markup, escape

from hub.text import body_hidden, code_point, has_body_hidden, hidden_name, strip_line
from hub.web import labels, navigation
from hub.web.keys import ACTOR, HUB, SESSION, TEMPLATES

TEMPLATE_DIR = labels.__file__.rsplit("/", 1)[0] + "/templates"


class _Undefined(Undefined):
    """Lenient where the GOV.UK macros test optional parameters (``if params.hint``), strict
    where it matters: printing a name that does not exist is a bug, not an empty string."""

    __slots__ = ()

    def __str__(self) -> str:
        self._fail_with_undefined_error()
        return ""  # pragma: no cover - the line above raises


_BREAKS = "\t\n\r"


def show_hidden(text: str, line: bool = False) -> Markup:
    """``text`` escaped, each hidden character (``hub.text``) replaced by a visible, boxed marker
    that names it: ``[right-to-left override U+202E]``. The character itself is not sent, so it
    reorders nothing on the page; what is stored is unchanged. ``line``: tabs and line breaks are
    marked too (a subject, a file name)."""
    out = []
    for run, hidden in body_hidden(text):
        if hidden:
            out.append(_marker(run))
        elif line and any(c in _BREAKS for c in run):
            out.extend(_marker(c) if c in _BREAKS else escape(c) for c in run)
        else:
            out.append(escape(run))
    return Markup("").join(out)


def _marker(char: str) -> Markup:
    return Markup(
        '<span class="hub-hidden-char"><span class="govuk-visually-hidden">hidden character: '
        "</span>[{name} {code}]</span>"
    ).format(name=hidden_name(char), code=code_point(char))


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(TEMPLATE_DIR),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=_Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(labels.filters())
    env.filters["show_hidden"] = show_hidden
    env.filters["strip_hidden"] = strip_line  # where markup cannot go: a page's <title>
    env.tests["with_hidden"] = has_body_hidden
    env.globals["menu_for"] = navigation.menu
    env.globals["home_for"] = navigation.home
    env.globals["home_label_for"] = navigation.home_label
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    session = request.get(SESSION)
    hub = request.app.get(HUB)
    context.setdefault("csrf_token", session.csrf_token if session else "")
    context.setdefault("actor", request.get(ACTOR))
    context.setdefault("request_path", request.path)
    context.setdefault("label", labels.Labels(hub.policy.current if hub is not None else None))
    html = env.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
