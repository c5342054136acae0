"""Typed keys for state hung off the aiohttp app and request."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment

from hub.services.actor import Actor
from hub.services.auth import Session
from hub.services.tokens import ApiActor
from hub.web.ratelimit import RateLimiter
from hub.wiring import Hub

HUB = web.AppKey("hub", Hub)
TEMPLATES = web.AppKey("templates", Environment)
COOKIE_NAME = web.AppKey("cookie_name", str)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)

# Request-scoped values (set by the session middleware). RequestKey, not str: aiohttp 3.14 warns on
# plain string keys, and under ``filterwarnings=error`` that warning is a 500.
SESSION = web.RequestKey("mappa.session", Session)
ACTOR = web.RequestKey("mappa.actor", Actor)
API_CALLER = web.RequestKey("mappa.api_caller", ApiActor)
