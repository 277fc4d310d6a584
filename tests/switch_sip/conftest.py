"""Fixtures of the real-switch tests: per database, one product server (`voipagency serve`, demo
data) and one Kamailio started from contrib/kamailio/kamailio.cfg in front of it, with a callee
UA as its gateway; shared by the tests of the module. Subscribers, balances, SIP passwords and
tariffs are set up through the product's API, as an operator and an agent would.

In CI (CI set) a missing Kamailio fails the run; elsewhere its tests are skipped."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATABASES, missing_dependency
from tests.switch_sip.sip_ua import Callee, Caller, Message, build, parse
from tests.web.live_server import REPO, LiveServer
from web.demo import DEMO_OPERATION_PASSWORD, DEMO_PASSWORD

CONFIG = REPO / "contrib" / "kamailio" / "kamailio.cfg"
AGENT = "pearl"  # the demo's agent owner with minutes in stock
# Destinations: 99… bills by the second (first block 1 s, increment 1 s); the rest 60/60.
PER_SECOND = "99"


def kamailio_binary() -> str:
    found = shutil.which("kamailio") or ("/usr/sbin/kamailio" if os.path.exists("/usr/sbin/kamailio") else None)
    if found is None:
        missing_dependency("Kamailio is not installed (Debian: kamailio kamailio-utils-modules kamailio-json-modules)")
    return found


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def options_ping(address: tuple[str, int], timeout: float = 0.3) -> bool:
    """An OPTIONS to the proxy itself answered 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        port = sock.getsockname()[1]
        call_id = secrets.token_hex(8)
        request = build(
            f"OPTIONS sip:{address[0]}:{address[1]} SIP/2.0",
            [
                ("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:ping@127.0.0.1>;tag={secrets.token_hex(4)}"),
                ("To", f"<sip:{address[0]}:{address[1]}>"),
                ("Call-ID", call_id),
                ("CSeq", "1 OPTIONS"),
            ],
        )
        sock.sendto(request, address)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return False
        return parse(data).first_line.startswith("SIP/2.0 200")


class Kamailio:
    """kamailio -DD -E from the shipped config, its defines on the command line, its runtime
    directory and pid file in a temporary directory; stopped with SIGTERM."""

    def __init__(self, defines: dict[str, str], port: int) -> None:
        self.binary = kamailio_binary()
        self.port = port
        self.address = ("127.0.0.1", port)
        self.dir = Path(tempfile.mkdtemp(prefix="voipagency-kamailio-"))
        self.log = self.dir / "kamailio.log"
        self.defines = {
            "LISTEN": f"udp:127.0.0.1:{port}",
            "CHILDREN": "2",
            "CTL_SOCKET": f'"unix:{self.dir}/kamailio_ctl"',
            **defines,
        }
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        defines = [arg for name, value in self.defines.items() for arg in ("-A", f"{name}={value}")]
        return [
            self.binary,
            "-f",
            str(CONFIG),
            "-DD",
            "-E",
            "-m",
            "32",
            "-M",
            "8",
            "-Y",
            str(self.dir),
            "-P",
            str(self.dir / "kamailio.pid"),
            *defines,
        ]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout: float = 15) -> Kamailio:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"kamailio exited with {self.process.returncode}:\n{self.log_text()[-5000:]}")
            if options_ping(self.address):
                return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"kamailio did not answer OPTIONS within {timeout} s:\n{self.log_text()[-5000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None


@dataclass(frozen=True)
class Subscriber:
    id: int
    account: str
    password: str  # its SIP password


@dataclass
class Switch:
    """The product server, Kamailio in front of it and the two UAs, with the API calls the tests
    make as the operator (`admin`), the agent (`agent`) and the switch (`switch_key`)."""

    kind: str
    server: LiveServer
    kamailio: Kamailio
    callee: Callee
    caller: Caller
    admin: httpx.Client
    agent: httpx.Client
    switch_key: str
    accounts: list[tuple[int, str]] = field(default_factory=list)  # fresh accounts: (id, number)

    def new_subscriber(self, spend_to: int | None = None) -> Subscriber:
        """A fresh account with a minute of airtime (60 s) and a new SIP password; `spend_to`:
        first spend its balance down to that many seconds with a call record sent by the switch
        API (the product's own way for airtime to go)."""
        subscriber_id, account = self.accounts.pop()
        reset = self.agent.post(f"/api/v1/subscribers/{subscriber_id}/sip-password/reset")
        assert reset.status_code == 200, reset.text
        if spend_to is not None:
            self.spend(account, 60 - spend_to)
        return Subscriber(subscriber_id, account, reset.json()["password"])

    def spend(self, account: str, seconds: int) -> None:
        call_id = "spend-" + secrets.token_hex(6)
        bearer = {"Authorization": f"Bearer {self.switch_key}"}
        asked = {"account": account, "destination": PER_SECOND + "100000000", "call_id": call_id}
        allowed = httpx.post(self.server.url + "/api/switch/v1/authorize", json=asked, headers=bearer)
        assert allowed.status_code == 200 and allowed.json()["allow"], allowed.text
        end = dt.datetime.now(dt.UTC).timestamp()
        record = {**asked, "start": end - seconds - 1, "answer": end - seconds, "end": end}
        rated = httpx.post(self.server.url + "/api/switch/v1/cdr", json={"calls": [record]}, headers=bearer)
        assert rated.status_code == 200 and rated.json()["results"][0]["charged"] == seconds, rated.text

    def balance(self, subscriber: Subscriber) -> int:
        answer = self.agent.get(f"/api/v1/subscribers/{subscriber.id}")
        assert answer.status_code == 200, answer.text
        return answer.json()["balance_seconds"]

    def calls(self, subscriber: Subscriber) -> list[dict]:
        answer = self.agent.get(f"/api/v1/subscribers/{subscriber.id}/calls")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def kamailio_lines(self, call_id: str) -> str:
        """What Kamailio logged about a call, to explain a failure."""
        return "\n".join(line for line in self.kamailio.log_text().splitlines() if call_id in line)

    def wait_bye(self, call_id: str, timeout: float) -> Message:
        """The BYE the callee got for the call (from the caller or from Kamailio)."""
        try:
            return self.callee.wait_bye(call_id, timeout)
        except AssertionError as missing:
            raise AssertionError(f"{missing}. Kamailio:\n{self.kamailio_lines(call_id)}") from None

    def wait_rated(self, subscriber: Subscriber, call_id: str, timeout: float = 10) -> dict:
        """The product's record of the call, once Kamailio has reported it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.calls(subscriber):
                if call["call_id"] == call_id:
                    return call
            time.sleep(0.1)
        lines = [line for line in self.kamailio.log_text().splitlines() if call_id in line or "call record" in line]
        raise AssertionError(
            f"the call {call_id} was never rated. Kamailio:\n"
            + "\n".join(lines[-30:])
            + f"\nThe product:\n{self.server.log_text()[-3000:]}"
        )


def bearer_client(base: str, username: str) -> httpx.Client:
    """An httpx client with an API token of the demo user `username`, made through the API."""
    with httpx.Client(base_url=base, timeout=30) as web:
        web.get("/login")
        csrf = web.cookies["vs_csrf"]
        web.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": csrf})
        made = web.post(
            "/api/v1/me/tokens",
            json={"name": "kamailio-tests"},
            headers={"X-CSRF-Token": web.cookies.get("vs_csrf", csrf)},
        )
        assert made.status_code == 201, made.text
        token = made.json()["token"]
    return httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})


def open_accounts(agent: httpx.Client, count: int) -> list[tuple[int, str]]:
    """`count` subscriber accounts of a minute each, opened by activating one-minute e-cards."""
    batch = agent.post(
        "/api/v1/card-batches",
        json={
            "kind": "e-card",
            "count": count,
            "face_minutes": 1,
            "operation_password": DEMO_OPERATION_PASSWORD,
            "idempotency_key": secrets.token_hex(8),
            "expiry_rule": "none",
        },
    )
    assert batch.status_code == 201, batch.text
    first, last = batch.json()["first_serial"], batch.json()["last_serial"]
    activated = agent.post(
        "/api/v1/cards/activate",
        json={"serial_from": first, "serial_to": last, "idempotency_key": secrets.token_hex(8)},
    )
    assert activated.status_code == 200 and activated.json()["accounts_opened"] == count, activated.text
    accounts = []
    for page in (1, 2, 3):
        listed = agent.get("/api/v1/subscribers", params={"page": page}).json()["items"]
        accounts += [(row["id"], row["account_number"]) for row in listed if first <= row["account_number"] <= last]
        if len(listed) < 50:
            break
    assert len(accounts) == count, accounts
    return accounts


@pytest.fixture(scope="module", params=DATABASES)
def switch(request, tmp_path_factory) -> Iterator[Switch]:
    kamailio_binary()  # fail or skip before anything starts
    kind = request.param
    env = {"VOIPAGENCY_DB_PATH": str(tmp_path_factory.mktemp("switch-sip") / "product.sqlite3"), "VOIPAGENCY_DEMO": "1"}
    if kind == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        env["DATABASE_URL"] = cluster.create_database(f"switch_sip_{secrets.token_hex(4)}")
    with LiveServer(env) as server:
        admin = bearer_client(server.url, "admin")
        agent = bearer_client(server.url, AGENT)
        key = admin.post("/api/v1/switch/keys", json={"name": "kamailio-tests"})
        assert key.status_code == 201, key.text
        rate = admin.put(
            f"/api/v1/switch/rates/{PER_SECOND}",
            json={"multiplier": 100, "first_block": 1, "increment": 1, "note": "per second"},
        )
        assert rate.status_code == 200, rate.text
        callee = Callee()
        kamailio = Kamailio(
            {
                "PRODUCT_URL": f'"{server.url}"',
                "SWITCH_KEY": f'"{key.json()["key"]}"',
                "GATEWAY": f'"sip:127.0.0.1:{callee.port}"',
                "CDR_RETRY": "1",
            },
            free_udp_port(),
        )
        caller = Caller(kamailio.address)
        kamailio.start()
        switch = Switch(
            kind,
            server,
            kamailio,
            callee,
            caller,
            admin,
            agent,
            key.json()["key"],
            open_accounts(agent, 12),
        )
        try:
            yield switch
        finally:
            kamailio.stop()
            caller.close()
            callee.close()
            admin.close()
            agent.close()
            log = kamailio.log_text()
            if os.environ.get("VOIPAGENCY_SHOW_KAMAILIO_LOG"):
                print(log)
            assert " CRITICAL: " not in log and "BUG" not in log, log[-5000:]
            shutil.rmtree(kamailio.dir, ignore_errors=True)
