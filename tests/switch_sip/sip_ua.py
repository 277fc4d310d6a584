"""A small SIP user agent over UDP for the real-switch tests: a caller (INVITE, answer to the
digest challenge, ACK, BYE) and a callee (100, 180, 200; 200 to BYE), each recording what it got.

Why a small UA of our own rather than baresip or a SIP library: the tests need exact control and
exact observation of the signalling — a wrong password on purpose, the raw status and reason
phrase of a refusal, when a BYE arrived and what Reason it carried, two calls in flight at once,
a callee that answers but never hangs up — and no media at all. baresip is an end-user phone
(audio modules, a config directory, an interactive command interface: driving it from a test and
reading back statuses means screen-scraping), it is another system package to install in CI, and
it hides the messages the tests assert on. The pure-Python SIP libraries are unmaintained or
built for media/B2BUA use, and would be one more dependency to pin. RFC 3261 over loopback UDP
without loss or NAT, plus RFC 2617 digest with qop=auth, is about 300 lines here; messages are
not retransmitted (loopback does not drop them) and only what the tests need is implemented.
"""

from __future__ import annotations

import hashlib
import itertools
import queue
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length", "k": "supported"}


@dataclass
class Message:
    """A parsed SIP message: a request (method, uri) or a response (status, reason)."""

    first_line: str
    headers: list[tuple[str, str]]  # (lowercase name, value), in order, comma lists split
    body: str = ""
    received_at: float = 0.0

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0] if self.is_request else self.cseq[1]

    @property
    def uri(self) -> str:
        return self.first_line.split(" ")[1]

    @property
    def status(self) -> int:
        return int(self.first_line.split(" ")[1])

    @property
    def reason(self) -> str:
        return self.first_line.split(" ", 2)[2] if self.first_line.count(" ") >= 2 else ""

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def get(self, name: str, default: str = "") -> str:
        found = self.all(name)
        return found[0] if found else default

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = self.get("cseq").split()
        return int(number), method

    def to_tag(self) -> str:
        found = re.search(r";\s*tag=([^;>\s]+)", self.get("to"))
        return found.group(1) if found else ""


def _split_list(value: str) -> list[str]:
    """A header value's comma-separated items, not splitting inside <...> or quotes."""
    items, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            items.append(value[start:index].strip())
            start = index + 1
    items.append(value[start:].strip())
    return [item for item in items if item]


LISTS = {"via", "record-route", "route", "contact"}


def parse(data: bytes) -> Message:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded
            name, value = headers.pop()
            headers.append((name, value + " " + line.strip()))
            continue
        name, _, value = line.partition(":")
        name = COMPACT.get(name.strip().lower(), name.strip().lower())
        values = _split_list(value.strip()) if name in LISTS and "," in value else [value.strip()]
        headers.extend((name, item) for item in values)
    return Message(lines[0], headers, body, time.monotonic())


def build(first_line: str, headers: list[tuple[str, str]], body: str = "") -> bytes:
    lines = [first_line, *(f"{name}: {value}" for name, value in headers), f"Content-Length: {len(body.encode())}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_params(challenge: str) -> dict[str, str]:
    return {key.lower(): a or b for key, a, b in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', challenge)}


def digest_answer(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    """The Authorization value answering a Digest challenge (RFC 2617, MD5, qop=auth or none)."""
    params = digest_params(challenge)
    realm, nonce = params["realm"], params["nonce"]
    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += [f'cnonce="{cnonce}"', "qop=auth", f"nc={nc}"]
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


class Endpoint:
    """A UDP socket on 127.0.0.1 with a thread that reads it: responses go to the waiting
    transaction, requests to `on_request` (which answers them)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.responses: dict[tuple[str, int, str], queue.Queue[Message]] = {}
        self.lock = threading.Lock()
        self.log: list[tuple[str, Message]] = []  # ("in"/"out", message)
        self.running = True
        self.thread = threading.Thread(target=self._read, name=f"sip-{name}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        self.log.append(("out", parse(data)))
        self.sock.sendto(data, address)

    def expect(self, call_id: str, cseq: int, method: str) -> queue.Queue[Message]:
        with self.lock:
            return self.responses.setdefault((call_id, cseq, method), queue.Queue())

    def _read(self) -> None:
        while self.running:
            try:
                data, address = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data.strip():
                continue  # keepalive
            message = parse(data)
            self.log.append(("in", message))
            if message.is_request:
                self.on_request(message, address)
            else:
                number, method = message.cseq
                self.expect(message.call_id, number, method).put(message)

    def on_request(self, request: Message, address: tuple[str, int]) -> None:
        raise NotImplementedError

    def reply(
        self,
        request: Message,
        address: tuple[str, int],
        status: int,
        reason: str,
        *,
        to_tag: str = "",
        extra: list[tuple[str, str]] = (),
    ) -> None:
        headers = [("Via", via) for via in request.all("via")]
        if 180 <= status < 300 and request.method == "INVITE":
            headers += [("Record-Route", route) for route in request.all("record-route")]
        to = request.get("to")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        headers += [
            ("From", request.get("from")),
            ("To", to),
            ("Call-ID", request.call_id),
            ("CSeq", request.get("cseq")),
            *extra,
        ]
        self.send(build(f"SIP/2.0 {status} {reason}", headers), address)


@dataclass
class Leg:
    """What the callee saw of one call."""

    call_id: str
    invite: Message
    address: tuple[str, int]
    to_tag: str
    acked_at: float | None = None
    bye: Message | None = None
    answered_at: float | None = None
    final: tuple[int, str] | None = None  # the final answer sent, sent again to a retransmission


class Callee(Endpoint):
    """The gateway side: answers INVITEs with 100, 180 and 200 (or `refuse_with`), answers BYE
    with 200, and records each call (`legs`, by Call-ID)."""

    def __init__(self) -> None:
        self.legs: dict[str, Leg] = {}
        self.refuse_with: tuple[int, str] | None = None
        self.ring_seconds = 0.0
        super().__init__("callee")

    def on_request(self, request: Message, address: tuple[str, int]) -> None:
        method = request.method
        contact = [("Contact", f"<sip:gw@{self.host}>")]
        if method == "INVITE" and request.call_id in self.legs:
            # A retransmission (the proxy heard nothing from us in time): the same answer again,
            # as RFC 3261 wants; a bare 200 without our tag and Contact would confuse the dialog.
            leg = self.legs[request.call_id]
            if leg.final is None:
                self.reply(request, address, 100, "Trying")
            else:
                answered = leg.final[0] == 200
                self.reply(request, address, *leg.final, to_tag=leg.to_tag, extra=contact if answered else [])
        elif method == "INVITE":
            leg = Leg(request.call_id, request, address, secrets.token_hex(4))
            self.legs[request.call_id] = leg
            self.reply(request, address, 100, "Trying")
            if self.refuse_with:
                leg.final = self.refuse_with
                self.reply(request, address, *leg.final, to_tag=leg.to_tag)
                return
            self.reply(request, address, 180, "Ringing", to_tag=leg.to_tag, extra=contact)
            if self.ring_seconds:
                time.sleep(self.ring_seconds)
            leg.answered_at = time.monotonic()
            leg.final = (200, "OK")
            self.reply(request, address, *leg.final, to_tag=leg.to_tag, extra=contact)
        elif method == "ACK":
            leg = self.legs.get(request.call_id)
            if leg is not None and leg.acked_at is None and request.to_tag() == leg.to_tag:
                leg.acked_at = time.monotonic()
        elif method in ("BYE", "CANCEL"):
            leg = self.legs.get(request.call_id)
            if leg is not None and method == "BYE":
                leg.bye = request
            self.reply(request, address, 200, "OK")
        elif method != "ACK":
            self.reply(request, address, 200, "OK")

    def wait_leg(self, call_id: str, timeout: float = 5) -> Leg:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if call_id in self.legs:
                return self.legs[call_id]
            time.sleep(0.02)
        raise AssertionError(f"the callee never got the call {call_id}")

    def wait_bye(self, call_id: str, timeout: float) -> Message:
        leg = self.wait_leg(call_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if leg.bye is not None:
                return leg.bye
            time.sleep(0.02)
        raise AssertionError(f"no BYE for {call_id} within {timeout} s")


@dataclass
class Call:
    """One call placed by the Caller: its final answer and, when answered, its dialog."""

    call_id: str
    destination: str
    final: Message | None = None
    challenged: Message | None = None
    route_set: list[str] = field(default_factory=list)
    remote_target: str = ""
    local_tag: str = ""
    remote_tag: str = ""
    cseq: int = 1
    bye_received: Message | None = None

    @property
    def status(self) -> int:
        return self.final.status if self.final else 0


class Caller(Endpoint):
    """The subscriber's phone: places calls through the proxy as `account` with `password`."""

    def __init__(self, proxy: tuple[str, int]) -> None:
        self.proxy = proxy
        self.calls: dict[str, Call] = {}
        self._ids = itertools.count(1)
        super().__init__("caller")

    def on_request(self, request: Message, address: tuple[str, int]) -> None:
        call = self.calls.get(request.call_id)
        if request.method == "BYE" and call is not None:
            call.bye_received = request
        if request.method != "ACK":
            self.reply(request, address, 200, "OK")

    def _branch(self) -> str:
        return "z9hG4bK" + secrets.token_hex(8)

    def _invite(self, call: Call, account: str, uri: str, cseq: int, branch: str, authorization: str | None) -> bytes:
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{account}@127.0.0.1>;tag={call.local_tag}"),
            ("To", f"<sip:{call.destination}@127.0.0.1>"),
            ("Call-ID", call.call_id),
            ("CSeq", f"{cseq} INVITE"),
            ("Contact", f"<sip:{account}@{self.host}>"),
            ("User-Agent", "voipagency-tests"),
        ]
        if authorization:
            headers.append(("Proxy-Authorization", authorization))
        return build(f"INVITE {uri} SIP/2.0", headers)

    def _ack_negative(self, call: Call, account: str, uri: str, response: Message, branch: str) -> None:
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{account}@127.0.0.1>;tag={call.local_tag}"),
            ("To", response.get("to")),
            ("Call-ID", call.call_id),
            ("CSeq", f"{response.cseq[0]} ACK"),
        ]
        self.send(build(f"ACK {uri} SIP/2.0", headers), self.proxy)

    def _final(self, call: Call, cseq: int, timeout: float) -> Message:
        responses = self.expect(call.call_id, cseq, "INVITE")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no final answer to INVITE {call.call_id} within {timeout} s")
            try:
                response = responses.get(timeout=left)
            except queue.Empty:
                continue
            if response.status >= 200:
                return response

    def place(
        self, account: str, password: str, destination: str, *, call_id: str | None = None, timeout: float = 10
    ) -> Call:
        """INVITE, answer the challenge, and ACK the final answer; the Call has it."""
        call = Call(
            call_id or f"t{next(self._ids)}-{secrets.token_hex(6)}", destination, local_tag=secrets.token_hex(4)
        )
        self.calls[call.call_id] = call
        uri = f"sip:{destination}@{self.proxy[0]}:{self.proxy[1]}"
        branch = self._branch()
        self.send(self._invite(call, account, uri, 1, branch, None), self.proxy)
        final = self._final(call, 1, timeout)
        call.cseq = 1
        if final.status in (401, 407):
            self._ack_negative(call, account, uri, final, branch)
            call.challenged = final
            challenge = final.get("proxy-authenticate") or final.get("www-authenticate")
            answer = digest_answer(challenge, "INVITE", uri, account, password)
            branch = self._branch()
            call.cseq = 2
            self.send(self._invite(call, account, uri, 2, branch, answer), self.proxy)
            final = self._final(call, 2, timeout)
        call.final = final
        if final.status >= 300:
            self._ack_negative(call, account, uri, final, branch)
            return call
        call.route_set = list(reversed(final.all("record-route")))
        contact = final.get("contact")
        call.remote_target = contact[contact.find("<") + 1 : contact.find(">")] if "<" in contact else contact
        call.remote_tag = final.to_tag()
        self._in_dialog(call, account, "ACK", call.cseq)
        return call

    def _in_dialog(self, call: Call, account: str, method: str, cseq: int) -> None:
        to = f"<sip:{call.destination}@127.0.0.1>;tag={call.remote_tag}"
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host};branch={self._branch()};rport"),
            ("Max-Forwards", "70"),
            *(("Route", route) for route in call.route_set),
            ("From", f"<sip:{account}@127.0.0.1>;tag={call.local_tag}"),
            ("To", to),
            ("Call-ID", call.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        self.send(build(f"{method} {call.remote_target} SIP/2.0", headers), self.proxy)

    def hang_up(self, call: Call, account: str, timeout: float = 5) -> Message:
        """BYE through the proxy; its final answer."""
        call.cseq += 1
        responses = self.expect(call.call_id, call.cseq, "BYE")
        self._in_dialog(call, account, "BYE", call.cseq)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = responses.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if response.status >= 200:
                return response
        raise AssertionError(f"no answer to BYE {call.call_id}")

    def wait_bye(self, call: Call, timeout: float) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if call.bye_received is not None:
                return call.bye_received
            time.sleep(0.02)
        raise AssertionError(f"the caller got no BYE for {call.call_id} within {timeout} s")
