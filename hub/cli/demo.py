"""``mappa-hub demo``: initialise, seed once, print the logins, serve."""

from __future__ import annotations

import os
from pathlib import Path

from hub.cli.serve import run_server
from hub.config import Config
from hub.demo import AGENCIES, AREAS, CASES, USERS, seed
from hub.wiring import Hub, initialise

LOGINS_FILE = "demo-logins.txt"


async def run_demo(config: Config, host: str, port: int) -> int:
    await initialise(config)
    hub = await Hub.open(config)
    logins_path = config.data_dir / LOGINS_FILE
    if not await hub.directory.areas():
        print(
            f"seeding the demo world ({len(AREAS)} areas, {len(AGENCIES)} agencies, "
            f"{len(USERS)} users, {len(CASES)} cases)...",
            flush=True,
        )
        logins = await seed(hub)
        lines = [
            f"{entry.username}\t{entry.password}\t{entry.role}\t{entry.agency}\t{entry.totp_uri}"
            for entry in logins
        ]
        _write_private(logins_path, "\n".join(lines) + "\n")
    url = f"http://{host}:{port}/"
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
        "Ctrl-C stops the demo; run the same command again to resume with the same data.",
    ]
    await run_server(hub, host, port, banner="\n".join(banner))
    return 0


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
