"""Text the system writes for people to read later: a journal memo, a ticket's automatic message,
a background job's error. It is stored as its English message id (marked with N_) and parameters,
not as English prose, so that each reader sees it in their own language (web/labels.py renders
it). Text a person typed is stored as typed."""

from __future__ import annotations

import json


def message(msgid: str, **params: str | int) -> str:
    """The stored form of `msgid` % `params`: compact JSON, {"m": msgid, "p": params} (a parameter
    that is not a string or a number is kept as its text)."""
    return json.dumps({"m": msgid, "p": params}, ensure_ascii=False, separators=(",", ":"), default=str)


def parse(text: str) -> tuple[str, dict[str, str | int]] | None:
    """(msgid, params) of text written by `message`; None for anything else (typed text)."""
    if not text.startswith('{"m":'):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {"m", "p"}:
        return None
    msgid, params = value["m"], value["p"]
    if not isinstance(msgid, str) or not isinstance(params, dict):
        return None
    return msgid, params
