"""`mappa-hub policy check|explain|test`, and reloading a running server's policy with SIGHUP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hub.config import SOURCE_POLICY_DIR
from tests.cli_runner import run_command


def policy(*args: str) -> subprocess.CompletedProcess[str]:
    return run_command(["policy", *args])


def test_check_accepts_the_shipped_policy() -> None:
    r = policy("check")
    assert r.returncode == 0, r.stderr
    assert "policy ok: version " in r.stdout


def test_check_names_file_line_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "policies"
    shutil.copytree(SOURCE_POLICY_DIR, bad)
    text = (bad / "packet_types.toml").read_text()
    (bad / "packet_types.toml").write_text(
        text.replace("retention_years = 6", "retention_years = -1", 1)
    )
    r = policy("check", "--policy-dir", str(bad))
    assert r.returncode == 1
    line = next(
        i
        for i, s in enumerate((bad / "packet_types.toml").read_text().splitlines(), 1)
        if "[packet_types.note]" in s
    )
    assert (
        f"packet_types.toml:{line}: packet_types.note: retention_years must be a positive"
        in r.stderr
    )


def test_explain_prints_the_five_tests() -> None:
    r = policy(
        "explain", "--sender", "childrens-social-care", "--recipient", "police",
        "--category", "intelligence", "--purpose", "risk-management", "--basis", "cja2003-s325",
        "--mappa-category", "2", "--level", "2", "--why", "short",
    )  # fmt: skip
    assert r.returncode == 1, r.stderr  # DENY
    assert r.stdout.startswith("decision: DENY (deny)")
    assert "FAIL  Necessary" in r.stdout and "FAIL  Lawful authority" in r.stdout
    # Children's social care owes a duty of confidence and shares criminal offence data under
    # UK GDPR: the refusal names the public interest test and the Schedule 1 conditions.
    assert "public interest test" in r.stdout and "Sch 1 para 6" in r.stdout
    r = policy(
        "explain", "--sender", "police", "--recipient", "third-party", "--category", "identity",
        "--purpose", "public-protection", "--basis", "common-law", "--mappa-category", "1",
        "--level", "3", "--why", "x y" * 10, "--who", "y z" * 10, "--use", "z x" * 10,
        "--format", "json",
    )  # fmt: skip
    assert r.returncode == 3, r.stderr  # REVIEW
    doc = json.loads(r.stdout)
    assert doc["outcome"] == "REVIEW"
    assert sorted(a["role"] for a in doc["approvals"]) == ["coordinator", "senior-manager"]
    assert doc["data_protection"]["regime"] == "law-enforcement"
    assert doc["dpv"]["legal_basis"] == "dpv:OfficialAuthorityOfController"


def test_explain_takes_areas_jurisdictions_and_active_recipients() -> None:
    share = (
        "explain", "--sender", "police", "--sender-area", "DBY", "--category", "identity",
        "--category", "address", "--purpose", "accommodation-placement", "--basis",
        "cja2003-s325", "--mappa-category", "1", "--level", "2",
        "--why", "Housing must assess the proposed address against the plan",
    )  # fmt: skip
    r = policy(*share, "--recipient", "housing@DBY")
    assert r.returncode == 0 and r.stdout.startswith("decision: PERMIT"), r.stdout
    # Another area's housing authority, not active on the case: both coordinators approve.
    r = policy(*share, "--recipient", "housing@NTT")
    assert r.returncode == 3, r.stdout
    assert "1 coordinator of the recipient area (other-area)" in r.stdout
    # Already active on the case (involved by the owning area): inside the arrangements.
    r = policy(*share, "--recipient", "housing@NTT+")
    assert r.returncode == 0, r.stdout
    # Across the border and not active: refused unless it travels as a request or a transfer.
    r = policy(*share, "--recipient", "housing@LOTH/scotland")
    assert r.returncode == 1 and "request for information" in r.stdout, r.stdout
    # s325 is law in England and Wales only: a Scottish sender is offered the 2005 Act.
    r = policy(*share[:-2], "--jurisdiction", "scotland", "--recipient", "housing",
               "--why", "Housing must assess the proposed address against the plan")  # fmt: skip
    assert r.returncode == 1 and "not law in Scotland" in r.stdout
    assert "Management of Offenders etc. (Scotland) Act 2005" in r.stdout
    r = policy(*share, "--recipient", "housing@LOTH/atlantis")
    assert r.returncode == 2 and "unknown jurisdiction" in r.stderr


def test_case_tables_pass_and_a_wrong_expectation_fails(tmp_path: Path) -> None:
    r = policy("test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "wrong.toml").write_text(
        '[[cases]]\nname = "housing is not given intelligence"\nsender = "police"\n'
        'recipients = ["housing"]\ncategories = ["intelligence"]\npurpose = "risk-management"\n'
        'lawful_basis = "cja2003-s325"\nmappa_category = 1\nlevel = 2\n'
        'necessity = { why = "a long enough statement of why" }\nexpect = "PERMIT"\n'
    )
    r = policy("test", "--cases", str(cases))
    assert r.returncode == 1
    assert "FAIL wrong.toml: housing is not given intelligence" in r.stdout
    assert "expected PERMIT, got DENY" in r.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sighup_reloads_a_running_server(tmp_path: Path) -> None:
    policy_dir = tmp_path / "policies"
    shutil.copytree(SOURCE_POLICY_DIR, policy_dir, ignore=shutil.ignore_patterns("tests"))
    data = tmp_path / "data"
    env = {**os.environ, "MAPPA_HUB_POLICY_DIR": str(policy_dir), "MAPPA_HUB_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "hub", "init", "--data-dir", str(data)],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--data-dir", str(data), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        with (policy_dir / "agreements.toml").open("a") as fh:
            fh.write(
                '\n[agreements.new-local-protocol]\ntitle = "t"\nuri = "https://x.example/p"\nversion = "1"\n'
            )
        server.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        (policy_dir / "channels.toml").write_text("not = [valid")
        server.send_signal(signal.SIGHUP)
        time.sleep(1.5)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "policy reloaded:" in stderr
    assert "policy reload refused, keeping" in stderr and "channels.toml:1" in stderr
