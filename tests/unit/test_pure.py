"""Pure rules: tree paths, money display, settings, language choice."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agency.tree import child_path, ids_in_path, is_within, subtree_bounds
from web.formatting import money
from web.i18n import negotiate
from web.settings import Settings, SettingsError

paths = st.lists(st.integers(min_value=1, max_value=99_999_999), min_size=1, max_size=6).map(
    lambda ids: "/" + "".join(f"{i:08d}/" for i in ids)
)


@given(paths, paths)
def test_subtree_bounds_match_prefix(root, other):
    low, high = subtree_bounds(root)
    assert (low <= other < high) == is_within(other, root)


@given(st.lists(st.integers(min_value=1, max_value=99_999_999), min_size=1, max_size=6))
def test_child_path_round_trip(ids):
    path = "/"
    for i in ids:
        path = child_path(path, i)
    assert ids_in_path(path) == ids


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_money_shows_exact_yuan(fen):
    text = money(fen).replace(",", "")
    assert int(text.replace(".", "")) == fen and text.split(".")[1].__len__() == 2


def test_negotiate_language():
    assert negotiate(None, "en-US,en;q=0.9") == "en"
    assert negotiate(None, "zh-TW,zh;q=0.9") == "zh_CN"
    assert negotiate("en", "zh-CN") == "en"
    assert negotiate("xx", "fr-FR") == "zh_CN"


def test_production_settings_need_secrets(tmp_path):
    with pytest.raises(SettingsError, match="VOIPAGENCY_SECRET_KEY"):
        Settings.from_env({"DATABASE_URL": "postgresql://x@localhost/db", "VOIPAGENCY_ALLOWED_HOSTS": "a"})
    with pytest.raises(SettingsError, match="at least 30"):
        Settings.from_env({"VOIPAGENCY_DB_PATH": str(tmp_path / "x.sqlite3"), "VOIPAGENCY_AUDIT_RETENTION_DAYS": "7"})
    keys = {"VOIPAGENCY_SECRET_KEY": "s" * 40, "VOIPAGENCY_CARD_SECRET_KEY": "c" * 40}
    with pytest.raises(SettingsError, match="ALLOWED_HOSTS"):
        Settings.from_env({"DATABASE_URL": "postgresql://x@localhost/db", **keys})
    prod = Settings.from_env({"DATABASE_URL": "postgresql://x@localhost/db", "VOIPAGENCY_ALLOWED_HOSTS": "a", **keys})
    assert not prod.demo and prod.secure_cookies


def test_demo_settings_keep_their_generated_secrets(tmp_path):
    env = {"VOIPAGENCY_DB_PATH": str(tmp_path / "demo.sqlite3")}
    first, second = Settings.from_env(env), Settings.from_env(env)
    assert first.demo and first.secret_key == second.secret_key and len(first.secret_key) >= 32


def test_host_check_ignores_the_port():
    from web.auth import host_allowed

    allowed = ("agency.example.com", "*.example.net", "127.0.0.1")
    assert host_allowed("agency.example.com:8000", allowed)
    assert host_allowed("AGENCY.example.com", allowed)
    assert host_allowed("a.b.example.net:443", allowed)
    assert host_allowed("127.0.0.1:8000", allowed)
    assert not host_allowed("evil.com", allowed)
    assert not host_allowed("example.net.evil.com", allowed)
    assert not host_allowed("", allowed)
    assert host_allowed("anything", ("*",))
