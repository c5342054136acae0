"""End-to-end mode through the repository's client: agency systems with their own keys seal and
open; the hub checks, decides, routes and logs, and holds no key that opens what they exchange."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.cli.main import main
from hub.client import ApiError, HubClient
from hub.client.sealing import AgencyKeys, Attachment, PublicKeys, open_envelope, seal_note
from hub.crypto import packet_format as fmt
from hub.crypto.errors import CryptoFailure
from hub.model.packets import Draft
from hub.services.keyring import KeysHeldElsewhere
from hub.services.packets import ELSEWHERE_SUBJECT
from hub.store import keys as key_store
from hub.store import ledger as ledger_store
from hub.store import packets as packet_store
from hub.store.schema import packets
from tests.api.conftest import Api
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

SUBMIT = ["sealed:submit", "sealed:read", "packets:read"]
READ = ["sealed:read", "packets:read"]


async def _import(api: Api, keys: AgencyKeys) -> None:
    await api.hub.keyring.import_public(
        await agency_id(api.hub, keys.agency), keys.encryption.public, keys.signing.public
    )


async def _harlow(api: Api) -> str:
    return (await api.hub.cases.get(None, await case_id(api.hub, "Harlow"))).reference


def _note(keys: AgencyKeys, to: list[PublicKeys], case: str, **overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "recipients": to,
        "case": case,
        "sender_user": "ds.ellis",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "subject": "Proposed address",
        "body": "The proposed address is 12 Example Road.",
        "necessity": NECESSITY,
    }
    fields.update(overrides)
    return seal_note(keys, **fields)


async def _state(api: Api) -> tuple[tuple[int, str], int]:
    """The ledger head and the number of packets: a refusal changes neither."""
    async with api.hub.db.read() as conn:
        head = await ledger_store.head(conn)
        count = (await conn.execute(select(func.count()).select_from(packets))).scalar_one()
    return head, int(count)


@pytest.fixture
async def systems(api: Api) -> tuple[AgencyKeys, AgencyKeys]:
    """DBY-POLICE and DBY-HOUSING run systems that hold their own keys."""
    police, housing = AgencyKeys.generate("DBY-POLICE"), AgencyKeys.generate("DBY-HOUSING")
    await _import(api, police)
    await _import(api, housing)
    return police, housing


async def test_police_system_seals_housing_system_opens_hub_cannot(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    police_keys, housing_keys = systems
    police = await api.client(await api.token("DBY-POLICE", SUBMIT))
    housing = await api.client(await api.token("DBY-HOUSING", READ))
    envelope = _note(
        police_keys,
        [housing_keys.public],
        await _harlow(api),
        attachments=[Attachment("plan.txt", "text/plain", b"risk management plan")],
    )
    receipt = await police.submit_sealed(envelope)
    assert receipt.created
    packet_id = receipt.packet["id"]
    assert receipt.packet["recipient_agencies"] == ["DBY-HOUSING"]
    assert receipt.packet["attachment_count"] == 1

    listed = {p["id"]: p for p in await housing.inbox()}
    assert listed[packet_id]["subject"] == ELSEWHERE_SUBJECT  # the hub cannot show it
    fetched = await housing.fetch_sealed(packet_id)
    assert [k["agency"] for k in json.loads(fetched)["keys"]] == ["DBY-HOUSING"]
    opened = open_envelope(fetched, housing_keys, [police_keys.public])
    assert opened.subject == "Proposed address"
    assert opened.body == "The proposed address is 12 Example Road."
    assert opened.attachments == (Attachment("plan.txt", "text/plain", b"risk management plan"),)
    assert opened.necessity == NECESSITY
    assert opened.header["necessity"] == NECESSITY  # in clear: the hub decided on it
    # A system that does not trust the signer refuses it.
    with pytest.raises(CryptoFailure):
        open_envelope(fetched, housing_keys, [housing_keys.public])

    async with api.hub.db.read() as conn:
        entries = list(await ledger_store.entries_for_packet(conn, packet_id))
    assert [e["event"] for e in entries] == ["packet-sent", "sealed-fetched"]
    assert [e["action"] for e in entries] == ["disclosure", "consultation"]
    assert entries[0]["decision"] == "PERMIT" and entries[0]["policy_version"]
    assert all(e["actor_token_id"] is not None for e in entries)
    assert entries[0]["actor_token_id"] != entries[1]["actor_token_id"]

    # The hub cannot open it: not for the sender's hub users, not for the recipient's.
    for username in ("dby.police", "dby.housing"):
        with pytest.raises(KeysHeldElsewhere, match="held by its own system"):
            await api.hub.packets.open(await actor_for(api.hub, username), packet_id)
    # ... and no private key in its database unwraps any content key of the packet.
    async with api.hub.db.read() as conn:
        held = [k for k in await key_store.all_keys(conn) if k.held_by_hub]
        wrapped = await packet_store.wrapped_keys(conn, packet_id)
    assert len(wrapped) == 2 and held
    for w in wrapped:
        for k in held:
            if k.purpose != "x25519":
                continue
            probe = fmt.SealedPacket(b"", b"", "", (fmt.WrappedKey("X", w.key_id, w.sealed),), {})
            private = api.hub.keyring.private(k)
            with pytest.raises(CryptoFailure):
                fmt.unwrap_content_key(probe, "X", lambda _kid, p=private: p)


async def test_policy_refusal_carries_the_decision_and_is_on_the_log(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    police_keys, housing_keys = systems
    token = await api.token("DBY-POLICE", SUBMIT)
    police = await api.client(token)
    (seq, _), count = await _state(api)
    envelope = _note(
        police_keys,
        [housing_keys.public],
        await _harlow(api),
        data_categories=["address", "health"],
    )
    with pytest.raises(ApiError) as err:
        await police.submit_sealed(envelope)
    assert err.value.status == 403
    assert err.value.problem["decision"]["outcome"] == "DENY"
    # Nothing stored; one entry on the log, naming the token, the case and the agency asked for.
    (after, _), after_count = await _state(api)
    assert (after, after_count) == (seq + 1, count)
    async with api.hub.db.read() as conn:
        [entry] = await ledger_store.entries_after(conn, seq, 10)
    assert (entry["event"], entry["decision"], entry["packet_id"]) == (
        "share-refused",
        "DENY",
        None,
    )
    assert entry["actor_token_id"] == int(token.split("_")[1])  # mh_<id>_<secret>
    assert entry["case_id"] == await case_id(api.hub, "Harlow")
    assert entry["recipients"] == str(await agency_id(api.hub, "DBY-HOUSING"))


async def test_a_sealed_packet_names_the_person_the_call_is_for(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    """The member of staff a call names (``On-Behalf-Of``) is the packet's sender: a signed header
    naming someone else is refused, storing and logging nothing."""
    police_keys, housing_keys = systems
    token = await api.token("DBY-POLICE", SUBMIT)
    police = await api.client(token, on_behalf_of="dby.police")
    case = await _harlow(api)
    before = await _state(api)
    with pytest.raises(ApiError) as err:
        await police.submit_sealed(_note(police_keys, [housing_keys.public], case))
    assert (err.value.status, err.value.code) == (403, "wrong_sender_user")
    assert err.value.problem["detail"] == (
        "The signed header names ds.ellis as sender_user; this call is on behalf of dby.police."
    )
    assert await _state(api) == before

    receipt = await police.submit_sealed(
        _note(police_keys, [housing_keys.public], case, sender_user="dby.police")
    )
    person = await actor_for(api.hub, "dby.police")
    async with api.hub.db.read() as conn:
        row = await packet_store.packet_by_id(conn, receipt.packet["id"])
    assert row is not None and row.sender_user_id == person.user.id

    # Without On-Behalf-Of the header's sender_user is the system's word, not checked: the packet's
    # sender is the system account, and the case's access report names nobody for it.
    unnamed = await (await api.client(token)).submit_sealed(
        _note(police_keys, [housing_keys.public], case, sender_user="dby.police")
    )
    coordinator = await actor_for(api.hub, "dby.coordinator")
    _, report = await api.hub.access.case_report(coordinator, await case_id(api.hub, "Harlow"))
    sent = {r.packet_id: r for r in report if r.event == "packet-sent"}
    assert sent[receipt.packet["id"]].on_behalf_of == f"{person.user.display_name} (dby.police)"
    assert sent[unnamed.packet["id"]].on_behalf_of is None


async def test_tampered_or_wrongly_signed_envelopes_are_refused(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    police_keys, housing_keys = systems
    police = await api.client(await api.token("DBY-POLICE", SUBMIT))
    case = await _harlow(api)
    good = json.loads(_note(police_keys, [housing_keys.public], case))
    before = await _state(api)

    def variant(change: Any) -> dict[str, Any]:
        doc = json.loads(json.dumps(good))
        change(doc)
        return doc

    def flip_body(doc: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(doc["parts"]["body"]))
        raw[-1] ^= 1
        doc["parts"]["body"] = base64.b64encode(bytes(raw)).decode()

    def change_purpose(doc: dict[str, Any]) -> None:
        header = json.loads(base64.b64decode(doc["header"]))
        header["purpose"] = "public-protection"
        doc["header"] = base64.b64encode(json.dumps(header).encode()).decode()

    def drop_recipient_key(doc: dict[str, Any]) -> None:
        doc["keys"] = [k for k in doc["keys"] if k["agency"] != "DBY-HOUSING"]

    stranger = AgencyKeys.generate("DBY-POLICE")  # the police's name, keys nobody registered
    impostor = AgencyKeys("DBY-POLICE", housing_keys.encryption, housing_keys.signing)
    cases: list[tuple[Any, int, str]] = [
        (variant(flip_body), 400, "integrity_failure"),
        (variant(change_purpose), 400, "integrity_failure"),
        (variant(drop_recipient_key), 400, "missing_wrapped_key"),
        (_note(stranger, [housing_keys.public], case), 403, "wrong_signer"),
        (_note(impostor, [housing_keys.public], case), 403, "wrong_signer"),
        (variant(lambda d: d.update(version=2)), 400, "malformed_envelope"),
    ]
    for envelope, status, code in cases:
        with pytest.raises(ApiError) as err:
            await police.submit_sealed(envelope)
        assert (err.value.status, err.value.code) == (status, code), err.value.problem
    # A typed packet needs the hub to read its form: refused sealed, with the way out.
    typed = fmt.seal(
        {**json.loads(base64.b64decode(good["header"])), "type": "request-for-information"},
        fmt.PlainContent("Request", "Please send the licence conditions."),
        [
            fmt.Recipient(k.agency, k.encryption.key_id, k.encryption.public)
            for k in (police_keys, housing_keys)
        ],
        police_keys.signing.private,
        police_keys.signing.key_id,
    ).to_envelope()
    with pytest.raises(ApiError) as err:
        await police.submit_sealed(typed)
    assert err.value.status == 400 and err.value.code == "type_needs_hub_mode"
    assert "hub mode" in err.value.problem["detail"]
    assert await _state(api) == before


async def test_an_agency_whose_keys_the_hub_holds_cannot_submit_sealed(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    _, housing_keys = systems
    probation = await api.client(await api.token("DBY-PROBATION", SUBMIT))
    before = await _state(api)
    own = AgencyKeys.generate("DBY-PROBATION")
    with pytest.raises(ApiError) as err:
        await probation.submit_sealed(_note(own, [housing_keys.public], await _harlow(api)))
    assert err.value.status == 403 and err.value.code == "keys_held_by_hub"
    assert "mappa-hub keys import" in err.value.problem["detail"]
    assert await _state(api) == before


async def test_resubmitting_is_idempotent_and_a_reused_id_conflicts(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    police_keys, housing_keys = systems
    police = await api.client(await api.token("DBY-POLICE", SUBMIT))
    case = await _harlow(api)
    envelope = _note(police_keys, [housing_keys.public], case)
    first = await police.submit_sealed(envelope)
    again = await police.submit_sealed(json.loads(envelope))  # any JSON layout is the same
    assert first.created and not again.created
    assert again.packet["id"] == first.packet["id"]
    before = await _state(api)
    reused = _note(police_keys, [housing_keys.public], case, packet_id=first.packet["id"])
    with pytest.raises(ApiError) as err:
        await police.submit_sealed(reused)
    assert err.value.status == 409 and err.value.code == "packet_id_in_use"
    assert await _state(api) == before
    async with api.hub.db.read() as conn:
        entries = list(await ledger_store.entries_for_packet(conn, first.packet["id"]))
    assert [e["event"] for e in entries] == ["packet-sent"]


async def test_scopes_and_case_limits_are_enforced(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    police_keys, housing_keys = systems
    case = await _harlow(api)
    envelope = _note(police_keys, [housing_keys.public], case)
    no_scope = await api.client(await api.token("DBY-POLICE", ["packets:send", "sealed:read"]))
    others = [c.reference for c in await api.hub.cases.visible_to(None) if c.reference != case]
    limited = await api.client(await api.token("DBY-POLICE", SUBMIT, cases=others[:1]))
    before = await _state(api)  # issuing a token is on the log: count after issuing these
    with pytest.raises(ApiError) as err:
        await no_scope.submit_sealed(envelope)
    assert err.value.status == 403 and "sealed:submit" in err.value.problem["detail"]
    with pytest.raises(ApiError) as err:
        await limited.submit_sealed(envelope)
    assert err.value.status == 403 and "other cases" in err.value.problem["detail"]
    assert await _state(api) == before

    police = await api.client(await api.token("DBY-POLICE", SUBMIT))
    packet_id = (await police.submit_sealed(envelope)).packet["id"]
    cannot: list[HubClient] = [
        await api.client(await api.token("DBY-HOUSING", ["packets:read"])),
        await api.client(await api.token("DBY-HOUSING", READ, cases=others[:1])),
    ]
    outsider = await api.client(await api.token("DBY-CSC", READ))
    after = await _state(api)
    for client in cannot:
        with pytest.raises(ApiError) as err:
            await client.fetch_sealed(packet_id)
        assert err.value.status == 403
    with pytest.raises(ApiError) as err:
        await outsider.fetch_sealed(packet_id)
    assert err.value.status == 404
    assert await _state(api) == after  # a refused fetch is not a consultation


async def test_hub_mode_send_to_an_agency_with_its_own_keys(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    """A hub-held agency sends in hub mode: the hub wraps for the imported key; the recipient's
    system opens it with its own key, and the hub's users of that agency cannot."""
    _, housing_keys = systems
    hub = api.hub
    probation = await actor_for(hub, "dby.probation")
    sent = await hub.packets.send(
        probation,
        Draft(
            case_id=await case_id(hub, "Harlow"),
            recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject="Licence conditions",
            body="Curfew 19:00-07:00.",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        ),
    )
    signing = (await hub.keyring.active(probation.agency.id)).signing
    probation_public = PublicKeys("DBY-PROBATION", b"\x01" * 32, signing.public_key)
    housing = await api.client(await api.token("DBY-HOUSING", READ))
    opened = open_envelope(await housing.fetch_sealed(sent.id), housing_keys, [probation_public])
    assert (opened.subject, opened.body) == ("Licence conditions", "Curfew 19:00-07:00.")
    assert (await hub.packets.open(probation, sent.id)).body == "Curfew 19:00-07:00."
    with pytest.raises(KeysHeldElsewhere):
        await hub.packets.open(await actor_for(hub, "dby.housing"), sent.id)
    # Packets sealed before the import stay readable on the hub: its retired key still opens them.
    housing_user = await actor_for(hub, "dby.housing")
    inbox = await hub.packets.inbox(housing_user)
    older = [p for p in inbox if p.id != sent.id]
    assert older and all(p.subject != ELSEWHERE_SUBJECT for p in older)
    assert (await hub.packets.open(housing_user, older[0].id)).body
    # A hub user of an agency with its own keys cannot send in hub mode: the hub cannot sign.
    with pytest.raises(KeysHeldElsewhere):
        await hub.packets.send(
            housing_user,
            Draft(
                case_id=await case_id(hub, "Harlow"),
                recipient_agency_ids=(probation.agency.id,),
                subject="Reply",
                body="Noted.",
                purpose="risk-management",
                lawful_basis="cja2003-s325",
                data_categories=("address",),
                necessity=NECESSITY,
                schedule1_condition="sch1-para6",
            ),
        )


async def test_sealed_note_to_an_agency_whose_keys_the_hub_holds(
    api: Api, systems: tuple[AgencyKeys, AgencyKeys]
) -> None:
    """End to end from the sender's side; the hub opens it for a recipient it holds keys for."""
    police_keys, _ = systems
    hub = api.hub
    probation_id = await agency_id(hub, "DBY-PROBATION")
    enc = (await hub.keyring.active(probation_id)).encryption
    probation_public = PublicKeys("DBY-PROBATION", enc.public_key, b"\x01" * 32)
    police = await api.client(await api.token("DBY-POLICE", SUBMIT))
    sent = await police.submit_sealed(_note(police_keys, [probation_public], await _harlow(api)))
    opened = await hub.packets.open(await actor_for(hub, "dby.probation"), sent.packet["id"])
    assert opened.body == "The proposed address is 12 Example Road."
    assert opened.header.sender_agency == "DBY-POLICE" and opened.header.policy == {}


async def test_keys_import_command(api: Api) -> None:
    config = api.hub.config
    keys = AgencyKeys.generate("DBY-MH")
    argv = [
        "keys",
        "import",
        *keys.import_arguments(),
        "--data-dir",
        str(config.data_dir),
        "--database-url",
        config.database_url,
    ]
    assert await asyncio.to_thread(main, argv) == 0
    assert await asyncio.to_thread(main, argv) == 2  # already active
    await api.hub.keyring.reload()
    active = await api.hub.keyring.active(await agency_id(api.hub, "DBY-MH"))
    assert active.encryption.key_id == keys.encryption.key_id and not active.encryption.held_by_hub
    assert active.signing.key_id == keys.signing.key_id and not active.signing.held_by_hub
    bad = [*argv]
    bad[bad.index("--signing-public") + 1] = base64.b64encode(b"short").decode()
    assert await asyncio.to_thread(main, bad) == 2
