"""``mappa-hub demo``: initialise, seed once, print the logins, serve."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.email.sink import DemoSink
from hub.cli.serve import run_server
from hub.clock import ManualClock
from hub.config import TLS_STARTTLS, Config
from hub.demo import (
    AGENCIES,
    AREAS,
    CASES,
    USERS,
    DemoLogin,
    seed,
    seed_cases,
    seed_directory,
    set_demo_addresses,
)
from hub.demo_history import DAYS_BACK, add_history
from hub.wiring import Hub, initialise

LOGINS_FILE = "demo-logins.txt"


async def run_demo(config: Config, host: str, port: int, *, history: bool = True) -> int:
    await initialise(config)
    # The demo's own mail server on loopback (STARTTLS, its CA under the data directory): the
    # hub sends to it as to a real relay, and it files each message in a maildir to read. An
    # operator's own relay (MAPPA_HUB_SMTP_HOST) wins, and then no sink is started.
    url = f"http://{host}:{port}/"
    sink = None if config.email.configured else DemoSink(config.data_dir).start()
    if sink is not None:
        config = dataclasses.replace(
            config,
            email=dataclasses.replace(
                config.email,
                host=sink.info.host,
                port=sink.info.port,
                tls=TLS_STARTTLS,
                ca_file=sink.info.ca.ca_file,
                from_address="mappa-hub@hub.demo.example",
                base_url=url.rstrip("/"),
            ),
        )
    try:
        return await _run(config, host, port, url, sink, history)
    finally:
        if sink is not None:
            sink.stop()


async def _run(
    config: Config, host: str, port: int, url: str, sink: DemoSink | None, history: bool
) -> int:
    hub = await Hub.open(config)
    logins_path = config.data_dir / LOGINS_FILE
    if not await hub.directory.areas():
        print(
            f"seeding the demo world ({len(AREAS)} areas, {len(AGENCIES)} agencies, "
            f"{len(USERS)} users, {len(CASES)} cases)...",
            flush=True,
        )
        if history:
            await hub.close()
            logins = await _with_history(config)
            hub = await Hub.open(config)
            await set_demo_addresses(hub)
            await seed_cases(hub)
        else:
            logins = await seed(hub, with_email=True)
        lines = [
            f"{entry.username}\t{entry.password}\t{entry.role}\t{entry.agency}\t{entry.totp_uri}"
            for entry in logins
        ]
        _write_private(logins_path, "\n".join(lines) + "\n")
    sheet = logins_path.read_text(encoding="utf-8") if logins_path.exists() else ""
    banner = [
        f"MAPPA Hub demo: {url}",
        f"data directory: {config.data_dir}",
        "",
        "Demo logins (username, password, role, agency, TOTP enrolment URI):",
    ]
    for line in sheet.splitlines():
        banner.append("  " + line.replace("\t", "  "))
    banner += [
        "",
        "Add a URI to an authenticator app, or print the current code with:",
        "  python -c 'import pyotp,sys; print(pyotp.parse_uri(sys.argv[1]).now())' 'otpauth://...'",
        "",
        f"Email: sent over {config.email.tls} to {config.email.host}:{config.email.port}"
        + (" (the demo's own mail sink)" if sink is not None else " (your relay)"),
    ]
    if sink is not None:
        banner += [
            f"  the sink files each message in the maildir {sink.info.maildir}",
            f"  list them:  ls -t {sink.info.maildir}/new",
            f"  read one:   less {sink.info.maildir}/new/FILE   (or: mutt -f {sink.info.maildir})",
        ]
    banner += [
        "  the outbox:  mappa-hub email list --data-dir " + str(config.data_dir),
        "",
        "Ctrl-C stops the demo; run the same command again to resume with the same data.",
    ]
    await run_server(hub, host, port, banner="\n".join(banner))
    return 0


async def _with_history(config: Config) -> list[DemoLogin]:
    """The directory made thirteen months back, then a year of Derbyshire's work through the
    services on a clock set to each day (hub.demo_history); no email for the past."""
    now = datetime.now(UTC)
    clock = ManualClock(now - timedelta(days=DAYS_BACK + 1))
    past = await Hub.open(config, clock)
    try:
        logins = await seed_directory(past)
        print("adding a year of Derbyshire's history for the statistics...", flush=True)
        try:
            steps = await add_history(past, clock, now.date())
            print(f"  {steps} steps through the services", flush=True)
        except Exception as exc:  # the history is a convenience: today's world still comes up
            print(f"  the history stopped part way ({type(exc).__name__}: {exc}); the demo "
                  "goes on with what was made", flush=True)  # fmt: skip
    finally:
        await past.close()
    return logins


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
