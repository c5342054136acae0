"""Typed keys for state hung off the aiohttp app and request."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment

from hub.services.actor import Actor
from hub.services.auth import Session
from hub.wiring import Hub

HUB = web.AppKey("hub", Hub)
TEMPLATES = web.AppKey("templates", Environment)
COOKIE_NAME = web.AppKey("cookie_name", str)

# Request-scoped values (set by the session middleware).
SESSION = "mappa.session"
ACTOR = "mappa.actor"
NEW_COOKIE = "mappa.new_cookie"
NOTICE = "mappa.notice"

__all__ = [
    "ACTOR",
    "COOKIE_NAME",
    "HUB",
    "NEW_COOKIE",
    "NOTICE",
    "SESSION",
    "TEMPLATES",
    "Actor",
    "Session",
]
