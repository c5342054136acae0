"""Input hygiene in the inbox: a malformed multipart form is a 400 that saves nothing and logs
nothing of its headers; hidden characters are refused in a subject and shown in a body."""

from __future__ import annotations

import html as htmllib
import logging

import pytest
from sqlalchemy import func, select

from hub.store.schema import saved_drafts
from tests.conftest import actor_for
from tests.web.conftest import Web, compose_form, fetch, post

BOUNDARY = "hygieneBoundary7MA4YWxkTrZu0gW"
UNREADABLE = "The form could not be read"


def _multipart(fields: list[tuple[str, str]], file_part: bytes) -> bytes:
    """A multipart body written by hand: aiohttp's client refuses to send a NUL in a header."""
    out = b""
    for name, value in fields:
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    out += f"--{BOUNDARY}\r\n".encode() + file_part + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def _saved_draft_count(web: Web) -> int:
    async with web.hub.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(saved_drafts))).scalar_one()
        )


# Each part's headers, then the file's bytes: a NUL (or another control) where a header parser
# or the form reader must refuse it.
BAD_PARTS = {
    "NUL in the file name": b'Content-Disposition: form-data; name="attachments"; '
    b'filename="map\x00.txt"\r\nContent-Type: text/plain\r\n\r\nSECRET-CONTENT',
    "NUL in the content type": b'Content-Disposition: form-data; name="attachments"; '
    b'filename="map.txt"\r\nContent-Type: text/pl\x00ain\r\n\r\nSECRET-CONTENT',
    "NUL in the field name": b'Content-Disposition: form-data; name="attach\x00ments"; '
    b'filename="map.txt"\r\nContent-Type: text/plain\r\n\r\nSECRET-CONTENT',
    "NUL encoded in an RFC 2231 file name": b"Content-Disposition: form-data; "
    b"name=\"attachments\"; filename*=utf-8''map%00.txt\r\nContent-Type: text/plain\r\n\r\n"
    b"SECRET-CONTENT",
    "line break encoded in an RFC 2231 file name": b"Content-Disposition: form-data; "
    b"name=\"attachments\"; filename*=utf-8''map%0D%0AX.txt\r\n\r\nSECRET-CONTENT",
    "unknown charset in an RFC 2231 file name": b"Content-Disposition: form-data; "
    b"name=\"attachments\"; filename*=no-such-charset''map%41.txt\r\n\r\nSECRET-CONTENT",
    "malformed Content-Disposition": b"Content-Disposition: form-data; name=attach ments; "
    b'filename="map.txt"\r\n\r\nSECRET-CONTENT',
    "no name": b'Content-Disposition: form-data; filename="map.txt"\r\n\r\nSECRET-CONTENT',
    "unknown transfer encoding": pytest.param(
        b'Content-Disposition: form-data; name="attachments"; '
        b'filename="map.txt"\r\nContent-Transfer-Encoding: rot13\r\n\r\nSECRET-CONTENT',
        # aiohttp leaves the part's spooled temporary file for the garbage collector to close
        # when decoding fails (upstream; in memory, nothing on disk at this size).
        marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    ),
    "undecodable text field": b'Content-Disposition: form-data; name="subject"\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nAddress \xff\xfe check",
}


@pytest.mark.parametrize("part", BAD_PARTS.values(), ids=BAD_PARTS.keys())
async def test_a_malformed_multipart_part_is_a_400_that_saves_and_logs_nothing_of_it(
    web: Web, caplog: pytest.LogCaptureFixture, part: bytes
) -> None:
    await web.login("dby.police")
    csrf = await web.compose_csrf()
    fields = [
        ("_csrf", csrf),
        ("case", str(await web.case_id("Harlow"))),
        ("recipients", str(await web.agency_id("DBY-HOUSING"))),
        ("purpose", "risk-management"),
        ("lawful_basis", "cja2003-s325"),
        ("subject", "Address check"),
        ("body", "Please confirm."),
        ("action", "save"),  # would keep a draft if the form were read at all
    ]
    packets, seq = await web.packet_count(), await web.ledger_seq()
    drafts = await _saved_draft_count(web)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        status, _, html = await post(
            web.client,
            "/compose",
            _multipart(fields, part),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert status == 400
    assert UNREADABLE in htmllib.unescape(html)
    assert "Nothing was saved" in htmllib.unescape(html)
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)
    assert await _saved_draft_count(web) == drafts
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records if r.name != "aiosqlite"
    )
    assert "refused POST /compose: invalid_input" in logged
    assert "unhandled error" not in logged
    for fragment in ("map", "SECRET", "Content-", "pl\x00ain", "\\x00", "rot13", "attach"):
        assert fragment not in logged, fragment


async def test_a_well_formed_upload_still_works_and_its_odd_content_type_is_neutral(
    web: Web,
) -> None:
    """A file name with a right-to-left override is kept as a file, its name cleaned; a content
    type that is not a media type is taken as application/octet-stream."""
    await web.login("dby.police")
    fields = [
        ("_csrf", await web.compose_csrf()),
        ("case", str(await web.case_id("Harlow"))),
        ("recipients", str(await web.agency_id("DBY-HOUSING"))),
        ("purpose", "risk-management"),
        ("lawful_basis", "cja2003-s325"),
        ("subject", "Address check"),
        ("body", "Please confirm."),
        ("action", "check"),
    ]
    part = (
        'Content-Disposition: form-data; name="attachments"; filename="report\u202efdp.exe"\r\n'
        "Content-Type: text/plain <b>\r\n\r\nnot an executable"
    ).encode()
    status, _, html = await post(
        web.client,
        "/compose",
        _multipart(fields, part),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert status == 200
    assert "reportfdp.exe" in html  # kept with the draft, shown without the override
    assert "\u202e" not in html
    async with web.hub.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(saved_drafts)) == 1


async def test_a_subject_with_a_text_direction_control_is_refused_and_the_form_kept(
    web: Web,
) -> None:
    await web.login("dby.police")
    packets = await web.packet_count()
    form = compose_form(
        await web.compose_csrf(),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        subject="Invoice \u202etxt.exe",
        body="Body kept as typed.",
    )
    status, _, html = await post(web.client, "/compose", form)
    assert status == 400
    text = htmllib.unescape(html)
    assert (
        "Subject must not include hidden characters, such as line breaks or text direction "
        "controls. It has a right-to-left override (U+202E). Remove it and try again"
    ) in text
    assert 'href="#subject"' in html  # the error summary points at the field
    assert "Body kept as typed." in text
    assert await web.packet_count() == packets


async def test_a_bodys_hidden_characters_are_shown_visibly_and_kept(web: Web) -> None:
    await web.login("dby.police")
    body = "Pay account \u202e4321\u202c today.\nLine two\tstays\x00."
    form = compose_form(
        await web.compose_csrf(),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        subject="Account details",
        body=body.replace("\x00", ""),  # a NUL is refused (no text may hold one)
    )
    status, location, _ = await post(web.client, "/compose", form)
    assert status == 303, location
    packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")

    housing = await web.login("dby.housing", await web.new_client())
    status, _, page = await fetch(housing, f"/packets/{packet_id}")
    assert status == 200
    assert "\u202e" not in page and "\u202c" not in page
    assert (
        '<span class="hub-hidden-char"><span class="govuk-visually-hidden">hidden character: '
        "</span>[right-to-left override U+202E]</span>4321"
        '<span class="hub-hidden-char"><span class="govuk-visually-hidden">hidden character: '
        "</span>[pop directional formatting U+202C]</span> today.\nLine two\tstays."
    ) in page
    assert 'id="hidden-characters"' in page  # the warning above the message
    # The evidence is unchanged: only its display marks the characters.
    opened = await web.hub.packets.open(await actor_for(web.hub, "dby.housing"), packet_id)
    assert opened.body == body.replace("\x00", "")


async def test_a_nul_in_a_body_is_refused_not_stored(web: Web) -> None:
    await web.login("dby.police")
    packets = await web.packet_count()
    form = compose_form(
        await web.compose_csrf(),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        body="Before\x00after",
    )
    status, _, html = await post(web.client, "/compose", form)
    assert status == 400
    assert "The message must not include a null character (U+0000)" in htmllib.unescape(html)
    assert await web.packet_count() == packets
