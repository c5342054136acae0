"""Property-based testing of the API against its own OpenAPI document (Schemathesis).

The document is loaded from the running server. Every operation gets generated requests, valid
(positive) and invalid (negative) by the document, with bearer tokens holding every scope; then the
operations that name a thing get more, aimed at things that exist (a real case, packet, attachment,
disclosure), and sending gets a valid packet with generated idempotency keys. No answer may be a
server error, and every answer must be one the document declares, of the declared media type and
schema. Examples are bounded and derandomized: a run is reproducible (about 40 s per database).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from hub.config import Limits
from hub.model.directory import Role
from hub.services.tokens import Scope
from tests.api.conftest import Api, StartApi
from tests.conftest import NECESSITY, SHARE_CATEGORIES, case_id

pytestmark = [
    pytest.mark.schemathesis,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

EXAMPLES = 20  # per operation and generation mode
AIMED_EXAMPLES = 15  # per operation, at things that exist
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _run(
    operation: Any,
    mode: schemathesis.GenerationMode,
    base_url: str,
    token: str,
    statuses: Counter[tuple[str, int]],
    examples: int,
    **fixed: Any,
) -> list[str]:
    """Call one operation with its generated cases; return the failures, described."""
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:

        @_settings(examples)
        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        def check(case: schemathesis.Case) -> None:
            try:
                response = case.call_and_validate(
                    base_url=base_url, session=session, headers=headers, checks=CHECKS, timeout=30
                )
                statuses[operation.label, response.status_code] += 1
            except schemathesis.errors.FailureGroup as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")

        check()
    return failures


async def _things_that_exist(api: Api, token: str) -> dict[str, Any]:
    """Path parameters naming real things the police token may see, and a valid packet."""
    police = await api.client(token)
    harlow = await case_id(api.hub, "Harlow")
    [with_attachment] = [p for p in await police.outbox() if p["attachment_count"]]
    [disclosure] = await police.disclosures(await case_id(api.hub, "Pritchard"))
    incoming = (await police.requests())["incoming"]
    return {
        "path": {
            "case_id": harlow,
            "packet_id": with_attachment["id"],
            "index": 0,
            "disclosure_id": disclosure["id"],
            # Asked of housing: the police token may not decline it (a refusal, not a 500).
            "request_id": incoming[0]["id"] if incoming else 1,
        },
        "packet": {
            "case_id": harlow,
            "recipient_agencies": ["DBY-HOUSING"],
            "subject": "Address check",
            "body": "Please check 12 Example Road.",
            "purpose": "risk-management",
            "lawful_basis": "cja2003-s325",
            "data_categories": list(SHARE_CATEGORIES),
            "necessity": NECESSITY,
        },
    }


async def test_no_operation_answers_a_server_error_or_off_the_document(
    start_api: StartApi,
) -> None:
    # The rate limit is the one thing a fast property-based run would (rightly) trip.
    api = await start_api(limits=Limits(api_rate_per_second=1e6, api_burst=1_000_000))
    everything = [s.value for s in Scope]
    # Statistics are read by a coordinator's system only: their operations get that token.
    coordinator_only = (Scope.DISCLOSURES_DECIDE.value, Scope.STATISTICS_READ.value)
    practitioner = await api.token(
        "DBY-POLICE", [s for s in everything if s not in coordinator_only]
    )
    # No token decides disclosures while the policy allows no delegated decisions: the decide
    # operation is fuzzed with a coordinator's token that lacks the scope (403 throughout).
    coordinator = await api.token(
        "DBY-POLICE",
        [s for s in everything if s != Scope.DISCLOSURES_DECIDE],
        role=Role.COORDINATOR,
    )
    known = await _things_that_exist(api, practitioner)
    base_url = api.url.rstrip("/")
    schema = await asyncio.to_thread(
        schemathesis.openapi.from_url, base_url + "/api/v1/openapi.json", timeout=30
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations

    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    for operation in operations:
        described = operation.definition.raw.get("description", "")
        token = coordinator if any(s in described for s in coordinator_only) else practitioner
        for mode in (POSITIVE, NEGATIVE):
            failures += await asyncio.to_thread(
                _run, operation, mode, base_url, token, statuses, EXAMPLES
            )
        # Aimed at things that exist, where the operation names them (or sends a packet).
        names = {p.name for p in operation.path_parameters}
        aimed: dict[str, Any] = {}
        if names and names <= set(known["path"]):
            aimed["path_parameters"] = {n: known["path"][n] for n in names}
        if operation.label in ("POST /api/v1/packets", "POST /api/v1/packets/preview"):
            aimed["body"] = known["packet"]
        if aimed:
            failures += await asyncio.to_thread(
                _run, operation, POSITIVE, base_url, token, statuses, AIMED_EXAMPLES, **aimed
            )

    assert not failures, "\n\n".join(failures)
    # The run reached the operations (not only the token check) and did real work.
    for operation in operations:
        answers = {s for (label, s), n in statuses.items() if label == operation.label}
        assert answers - {401}, f"{operation.label} only ever answered 401"
    for label, status in [
        ("GET /api/v1/cases/{case_id}", 200),
        ("GET /api/v1/packets/{packet_id}", 200),
        ("GET /api/v1/packets/{packet_id}/attachments/{index}", 200),
        ("GET /api/v1/packets/{packet_id}/receipt", 200),
        ("POST /api/v1/packets", 201),
        ("POST /api/v1/packets/preview", 200),
        ("GET /api/v1/disclosures/{disclosure_id}", 200),
    ]:
        assert statuses[label, status], f"{label} never answered {status}: {statuses}"
