"""A small client for the hub's JSON API, for agency systems (and the tests).

Hub mode: ``send`` gives the hub the content and it seals it for the recipients. End-to-end mode
(``submit_sealed`` / ``fetch_sealed``) is for systems that hold their own agency keys.

    async with HubClient("https://hub.example", token) as hub:
        sent = await hub.send(case_id=3, recipient_agencies=["DBY-HOUSING"], ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp


class ApiError(Exception):
    """The hub refused: ``status`` and the RFC 9457 problem document it sent."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('detail') or problem.get('title') or ''}".strip())
        self.status = status
        self.problem = problem

    @property
    def code(self) -> str:
        return str(self.problem.get("type", "")).rsplit(":", 1)[-1]


@dataclass(frozen=True)
class SealedReceipt:
    """What the hub answered to a sealed submission: the packet as listed, and whether it is new."""

    packet: dict[str, Any]
    created: bool


class HubClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        on_behalf_of: str | None = None,
    ) -> None:
        """``on_behalf_of``: the username of the member of staff the system acts for (sent as
        ``On-Behalf-Of``); without it a token acts for the admin who issued it."""
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if on_behalf_of is not None:
            self._headers["On-Behalf-Of"] = on_behalf_of
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> HubClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One call: (status, headers, body). Raises ApiError for a 4xx/5xx answer."""
        if self._session is None:
            raise RuntimeError("use 'async with HubClient(...)'")
        async with self._session.request(
            method,
            self._base + path,
            json=json,
            params=params,
            headers={**self._headers, **(headers or {})},
        ) as resp:
            body = await resp.read()
            if resp.status >= 400:
                try:
                    problem = await resp.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    problem = {"detail": body[:200].decode("utf-8", "replace")}
                raise ApiError(resp.status, problem if isinstance(problem, dict) else {})
            return resp.status, dict(resp.headers), body

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        import json as _json

        _, _, body = await self.request(method, path, **kwargs)
        return _json.loads(body)

    # -- the description and cases ---------------------------------------------------------

    async def openapi(self) -> dict[str, Any]:
        return dict(await self._json("GET", "/api/v1/openapi.json"))

    async def cases(self) -> list[dict[str, Any]]:
        return list((await self._json("GET", "/api/v1/cases"))["cases"])

    async def case(self, case_id: int) -> dict[str, Any]:
        return dict(await self._json("GET", f"/api/v1/cases/{case_id}"))

    # -- packets (hub mode) ----------------------------------------------------------------

    async def send(self, *, idempotency_key: str | None = None, **packet: Any) -> dict[str, Any]:
        """Send a packet; fields as ``SendIn`` in the OpenAPI document."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return dict(await self._json("POST", "/api/v1/packets", json=packet, headers=headers))

    async def preview(self, **packet: Any) -> dict[str, Any]:
        return dict(await self._json("POST", "/api/v1/packets/preview", json=packet))

    async def inbox(self, before: str | None = None) -> list[dict[str, Any]]:
        params = {"before": before} if before else None
        return list((await self._json("GET", "/api/v1/inbox", params=params))["packets"])

    async def outbox(self, before: str | None = None) -> list[dict[str, Any]]:
        params = {"before": before} if before else None
        return list((await self._json("GET", "/api/v1/outbox", params=params))["packets"])

    async def open(self, packet_id: str) -> dict[str, Any]:
        return dict(await self._json("GET", f"/api/v1/packets/{packet_id}"))

    async def attachment(self, packet_id: str, index: int) -> bytes:
        _, _, body = await self.request("GET", f"/api/v1/packets/{packet_id}/attachments/{index}")
        return body

    async def receipt(self, packet_id: str) -> bytes:
        """The receipt file as the hub wrote it (check it with ``mappa-hub ledger check-receipt``)."""
        _, _, body = await self.request("GET", f"/api/v1/packets/{packet_id}/receipt")
        return body

    # -- requests and disclosures ----------------------------------------------------------

    async def requests(self) -> dict[str, list[dict[str, Any]]]:
        return dict(await self._json("GET", "/api/v1/requests"))

    async def decline(self, request_id: int, reason: str) -> dict[str, Any]:
        return dict(
            await self._json(
                "POST", f"/api/v1/requests/{request_id}/decline", json={"reason": reason}
            )
        )

    async def disclosures(self, case_id: int | None = None) -> list[dict[str, Any]]:
        params = {"case_id": str(case_id)} if case_id is not None else None
        return list((await self._json("GET", "/api/v1/disclosures", params=params))["disclosures"])

    async def disclosure(self, disclosure_id: int) -> dict[str, Any]:
        return dict(await self._json("GET", f"/api/v1/disclosures/{disclosure_id}"))

    async def decide(
        self, disclosure_id: int, decision: str, reasons: str, conditions: str = ""
    ) -> dict[str, Any]:
        body = {"decision": decision, "reasons": reasons, "conditions": conditions}
        return dict(
            await self._json("POST", f"/api/v1/disclosures/{disclosure_id}/decisions", json=body)
        )

    async def deliver(self, disclosure_id: int) -> dict[str, Any]:
        return dict(await self._json("POST", f"/api/v1/disclosures/{disclosure_id}/delivery"))

    # -- end-to-end mode (the agency system holds its own keys; see hub.client.sealing) ----

    async def submit_sealed(self, envelope: bytes | str | Mapping[str, Any]) -> SealedReceipt:
        """Submit an envelope sealed by this system (``hub.client.sealing.seal_note``).

        ``created`` is False when the hub already held this exact envelope (a safe retry).
        """
        import json as _json

        doc = dict(envelope) if isinstance(envelope, Mapping) else _json.loads(envelope)
        status, _, body = await self.request("POST", "/api/v1/sealed", json={"envelope": doc})
        return SealedReceipt(packet=dict(_json.loads(body)), created=status == 201)

    async def fetch_sealed(self, packet_id: str) -> bytes:
        """A packet's envelope for this system to open with its own keys (``open_envelope``)."""
        _, _, body = await self.request("GET", f"/api/v1/packets/{packet_id}/sealed")
        return body
