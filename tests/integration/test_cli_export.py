"""`voipagency cards generate --out` (issue 11, point 5): the secrets are marked exported only once
their file is safely on disk, and that file is readable by its owner only. A kill while the file
is being written loses nothing: the batch keeps its secrets sealed, and they can be exported."""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from agency.tables import AuditEntry
from cards import codes
from cards.exports import export_secrets
from cards.tables import BatchSecrets, Card, CardBatch
from tests.helpers import demo_actors
from tests.integration.test_cards import KEY, stocked_owner
from web.demo import DEMO_OPERATION_PASSWORD as OP
from web.demo import DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[2]
BIG = 100_000  # cards: writing their file takes long enough to be caught in the act


def cli_env(db: dict) -> dict[str, str]:
    """The CLI on the test's own database, with the test's card key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIPAGENCY_") and k != "DATABASE_URL"}
    env.update(
        VOIPAGENCY_DEMO="0",
        VOIPAGENCY_SECRET_KEY="s" * 40,
        VOIPAGENCY_CARD_SECRET_KEY=KEY.decode(),
        VOIPAGENCY_ALLOWED_HOSTS="*",
    )
    if db["kind"] == "postgres":
        env["DATABASE_URL"] = db["url"]
    else:
        env["VOIPAGENCY_DB_PATH"] = db["path"]
    return env


def generate(db: dict, out: Path, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "web.cli", "cards", "generate", "--user", "huaxin", "--count", str(count)]
        + ["--face-minutes", "1", "--out", str(out), "--passwords-stdin"],
        env=cli_env(db),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o022,  # what most shells have: a file made with the default mode would be 0644
    )


def temporary_files(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p.name.endswith(".tmp")]


def kill_while_writing(process: subprocess.Popen, out: Path, timeout: float = 300) -> Path | None:
    """Watch for the temporary file to appear and fill; SIGKILL the process as soon as it holds
    data. The temporary file, or None when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for temp in temporary_files(out):
            try:
                if temp.stat().st_size > 0:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    return temp
            except FileNotFoundError:  # renamed meanwhile
                pass
        time.sleep(0.0002)
    process.wait(timeout=60)
    return None


async def test_a_kill_while_the_file_is_written_leaves_the_secrets_sealed(db, tmp_path):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=3 * BIG)
    killed = None
    for attempt in range(3):  # the kill must land inside the write; a scheduler hiccup may miss it
        out = tmp_path / f"cards-{attempt}.csv"
        process = generate(db, out, BIG)
        process.stdin.write(f"{DEMO_PASSWORD}\n{OP}\n")
        process.stdin.close()
        temp = kill_while_writing(process, out)
        if temp is not None:
            killed = (out, temp)
            break
        # Missed: it finished, and then the export must be complete and marked.
        assert process.returncode == 0, process.stderr.read()
        assert out.exists() and not temporary_files(out)
    assert killed is not None, "the CLI was never caught writing its file"
    out, temp = killed
    assert process.returncode == -signal.SIGKILL
    assert not out.exists()  # the file at --out appears only complete
    assert stat.S_IMODE(temp.stat().st_mode) == 0o600  # the partial copy is not readable by others either
    assert temp.stat().st_size > 0

    batch = await CardBatch.select().order_by(CardBatch.id, ascending=False).first()
    assert batch["size"] == BIG
    assert batch["secrets_exported_at"] is None  # not marked exported ...
    assert (
        await BatchSecrets.count().where((BatchSecrets.batch == batch["id"]) & BatchSecrets.sealed.is_not_null()) > 0
    )  # ... and still sealed
    assert not await AuditEntry.exists().where(
        (AuditEntry.action == "cards.export_secrets") & (AuditEntry.target_id == str(batch["id"]))
    )
    # The secrets can still be exported, once, and they are the cards' secrets.
    export = await export_secrets(owner, batch["id"], card_key=KEY, file_format="csv", operation_password=OP)
    assert export.with_secrets and len(export.cards) == BIG
    hashes = {
        row["serial"]: row["secret_hash"]
        for row in await Card.select(Card.serial, Card.secret_hash).where(Card.batch == batch["id"]).limit(50)
    }
    by_serial = {card["serial"]: card["secret"] for card in export.cards}
    assert all(codes.secret_matches(KEY, serial, by_serial[serial], hashed) for serial, hashed in hashes.items())


async def test_the_file_is_private_and_complete_before_the_secrets_are_marked(db, tmp_path):
    await stocked_owner(await demo_actors(), minutes=1000)
    out = tmp_path / "cards.csv"
    process = generate(db, out, 300)
    stdout, stderr = process.communicate(f"{DEMO_PASSWORD}\n{OP}\n", timeout=120)
    assert process.returncode == 0, stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not temporary_files(out)
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300 and all(len(r["secret"]) == 16 and codes.is_valid_serial(r["serial"]) for r in rows)
    batch = await CardBatch.select().first()
    assert batch["secrets_exported_at"] is not None
    assert not await BatchSecrets.exists().where(BatchSecrets.sealed.is_not_null())
    assert await AuditEntry.count().where(AuditEntry.action == "cards.export_secrets") == 1


async def test_an_unwritable_out_is_refused_before_anything_is_generated(db, tmp_path):
    await stocked_owner(await demo_actors(), minutes=1000)
    process = generate(db, tmp_path / "missing" / "cards.csv", 10)
    _stdout, stderr = process.communicate(f"{DEMO_PASSWORD}\n{OP}\n", timeout=120)
    assert process.returncode == 1 and "cannot write" in stderr
    assert await CardBatch.count() == 0
