"""The `voipagency` command: serve, migrate, create-user, demo, audit purge, agents tick, ledger
verify, cards generate, backup and restore."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import getpass
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator

from core.db import bind_engine, engine_from_url, migrate, prepare_sqlite
from core.errors import DomainError, ValidationFailed
from web.settings import Settings, SettingsError


async def _connect(settings: Settings) -> None:
    engine = engine_from_url(settings.database_url, settings.sqlite_path, settings.sqlite_synchronous)
    bind_engine(engine)
    await prepare_sqlite(engine)


async def _migrate(settings: Settings) -> None:
    from stats.recompute import fill_if_missing

    await _connect(settings)
    await migrate()
    await fill_if_missing()  # an upgrade from a version without statistics


def _print_refusal(exc: DomainError) -> None:
    """A refused command on stderr: each field's message for bad input, else the error."""
    if isinstance(exc, ValidationFailed):
        for field, message in exc.errors.items():
            print(f"{field}: {message % exc.params if exc.params else message}", file=sys.stderr)
    else:
        print(exc, file=sys.stderr)


def _print_demo_logins(host: str, port: int) -> None:
    from web.demo import DEMO_OPERATION_PASSWORD, DEMO_PASSWORD, STAFF, TREE

    print(f"\nvoipagency (demo) is serving on http://{host}:{port}/")
    print(f"Every demo login has the password {DEMO_PASSWORD!r} and operation password {DEMO_OPERATION_PASSWORD!r}:")
    print("  operator staff: " + ", ".join(name for name, _role in STAFF))

    def walk(nodes: list, depth: int) -> None:
        for brand, _contact, _phone, users, children in nodes:
            print("  " + "  " * depth + f"{brand}: " + ", ".join(f"{u} ({r})" for u, r in users))
            walk(children, depth + 1)

    walk(TREE, 0)
    print(flush=True)


def _print_portal_logins(history: dict) -> None:
    if not history["portal"]:
        return
    print("Subscribers to try on the phone portal (/portal):")
    for login in history["portal"]:
        print(f"  {login['account_number']} ({login['agent']}), password {login['password']!r}")
    print(flush=True)


async def _prepare_for_serving(settings: Settings, *, migrate: bool) -> tuple[bool, dict | None]:
    """Migrate (unless a separate step does); in demo mode, load the demo with its days of history
    into an empty database. Whether demo logins exist, and the history when it was just loaded
    (else its portal logins, found again)."""
    from web.demo import is_empty
    from web.demo_history import load_living_demo, portal_logins

    if migrate:
        await _migrate(settings)
    else:
        await _connect(settings)
    if not settings.demo:
        return False, None
    if await is_empty():
        print(f"loading the demo: {settings.demo_days} days of history…", flush=True)
        return True, await load_living_demo(settings.card_key, settings.demo_days)
    return True, {"portal": await portal_logins()}  # printed again on every start, not only the first


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from web.serving import serve

    demo, history = asyncio.run(_prepare_for_serving(settings, migrate=not args.no_migrate))
    if demo:
        _print_demo_logins(args.host, args.port)
    if history:
        _print_portal_logins(history)
    return serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
        switch_port=args.switch_port,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips or None,
        log_level="info",
        access_log=args.access_log,
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_migrate(settings))
    print("migrations applied")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from web.demo import is_empty
    from web.demo_history import load_living_demo

    async def run() -> dict | None:
        await _migrate(settings)
        if not await is_empty():
            print("the database already has users; demo data is loaded only into an empty database", file=sys.stderr)
            return None
        return await load_living_demo(settings.card_key, settings.demo_days)

    history = asyncio.run(run())
    code = 0 if history else 1
    if history:
        _print_demo_logins("127.0.0.1", 8000)
        _print_portal_logins(history)
    return code


def cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    from agency.roles import Actor
    from agency.users import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("the passwords differ", file=sys.stderr)
            return 1
    # The CLI runs with the server's own authority: an operator admin acting as "cli".
    actor = Actor(user_id=0, username="cli", role="admin", address="cli")

    async def run() -> int:
        await _migrate(settings)
        try:
            user = await create_user(
                actor,
                None,
                {"username": args.username, "role": args.role, "display_name": args.name or "", "password": password},
            )
        except DomainError as exc:
            _print_refusal(exc)
            return 1
        print(f"created operator user {user['username']} ({user['role']})")
        return 0

    return asyncio.run(run())


def cmd_audit_purge(args: argparse.Namespace, settings: Settings) -> int:
    from agency.audit import purge

    async def run() -> int:
        await _connect(settings)
        return await purge(args.days or settings.audit_retention_days)

    print(f"purged {asyncio.run(run())} audit entries")
    return 0


def cmd_agents_tick(args: argparse.Namespace, settings: Settings) -> int:
    from money.onboarding import apply_due_terminations

    async def run() -> int:
        await _connect(settings)
        return await apply_due_terminations()

    print(f"{asyncio.run(run())} agents terminated")
    return 0


def cmd_ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    from cards.integrity import verify_everything as verify

    async def run():
        await _connect(settings)
        return await verify()

    report = asyncio.run(run())
    print(f"ledger: {report.transactions} transactions, {report.entries} entries, {report.accounts} accounts")
    checks = (
        "every transaction sums to zero per unit",
        "every cached balance equals its entries",
        "every entry is in its account's unit",
        "no customer-facing balance below zero",
        "all accounts sum to zero per unit",
    )
    for check in checks:
        print(f"  checked: {check}")
    for breach in report.breaches:
        print(f"  BREACH: {breach}")
    print("OK" if report.ok else f"FAILED: {len(report.breaches)} breach(es)")
    return 0 if report.ok else 1


def cmd_stats_verify(args: argparse.Namespace, settings: Settings) -> int:
    from stats.recompute import verify

    async def run():
        await _connect(settings)
        return await verify()

    report = asyncio.run(run())
    print(f"statistics: {report.rows} daily rows compared with a recomputation from their sources")
    for difference in report.differences:
        print(f"  DIFFERENCE: {difference}")
    print("OK" if report.ok else f"FAILED: {len(report.differences)} difference(s) shown")
    return 0 if report.ok else 1


def cmd_stats_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from stats.recompute import rebuild

    async def run():
        await _connect(settings)
        return await rebuild()

    print(f"statistics rebuilt: {asyncio.run(run())} daily rows")
    return 0


def _progress_bar(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total if total else width
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}", end="", file=sys.stderr, flush=True)


class CommandFailed(Exception):
    """A step of a command failed; the message says why (printed on stderr, exit 1)."""


@contextlib.contextmanager
def replaced_atomically(path: str) -> Iterator[str]:
    """Yields the name of a new, empty temporary file beside `path`, readable by its owner only
    (0600). Once the block has written it, the file is flushed to disk (fsync), renamed over
    `path` and the directory is flushed too, so `path` is either its old self or the complete
    new file, even across a crash. If the block fails, the temporary file is removed; a killed
    process leaves it behind as `.NAME.*.tmp`, still 0600."""
    target = os.path.abspath(path)
    directory, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")  # created 0600
    os.close(fd)
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _writable_file(path: str) -> str | None:
    """Why a new file cannot be made at `path` (a directory, an unwritable folder), or None."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        return f"{path} is a directory"
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        return f"cannot write in {directory}"
    return None


def cmd_cards_generate(args: argparse.Namespace, settings: Settings) -> int:
    """Generate a batch as an agent's owner, with a progress bar, and write its one export with
    the secrets to --out (CSV). Passwords are read without echo, or as two lines of stdin.

    The secrets are marked exported (and their sealed copy destroyed) only once the file is on
    disk: it is written to a temporary file beside --out (mode 0600), flushed, renamed into place
    and its directory flushed, and only then does cards.exports.mark_secrets_exported run. A
    crash or kill before that leaves the secrets sealed in the database: the batch page exports
    them again."""
    from agency.sessions import log_in, log_out
    from cards.exports import SecretsAlreadyTaken, mark_secrets_exported, open_secrets
    from cards.services import prepare_batch, write_batch

    unwritable = _writable_file(args.out)
    if unwritable:  # before anything is generated
        print(unwritable, file=sys.stderr)
        return 1
    if args.passwords_stdin:
        password, operation_password = sys.stdin.readline().rstrip("\n"), sys.stdin.readline().rstrip("\n")
    else:
        password, operation_password = getpass.getpass("Password: "), getpass.getpass("Operation password: ")
    data = {
        "kind": args.kind,
        "count": str(args.count),
        "face_minutes": str(args.face_minutes),
        "expiry_rule": args.expiry_rule,
        "expiry_days": str(args.expiry_days or ""),
        "expiry_date": args.expiry_date or "",
        "prefix": args.prefix,
        "notes": args.notes,
    }

    async def run() -> int:
        await _connect(settings)
        _token, actor = await log_in(args.user, password, address="cli")
        batch = None
        try:
            spec, agent = await prepare_batch(actor, data, operation_password)
            batch, _pairs = await write_batch(
                actor,
                spec,
                agent,
                card_key=settings.card_key,
                progress=_progress_bar,
                return_pairs=False,
            )
            print(file=sys.stderr)
            opened = await open_secrets(
                actor, batch["id"], card_key=settings.card_key, operation_password=operation_password
            )
            with replaced_atomically(args.out) as temp, open(temp, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(("serial", "secret", "minutes", "status"))
                writer.writerows((c["serial"], c["secret"], batch["face_minutes"], c["status"]) for c in opened.cards)
            try:
                await mark_secrets_exported(actor, opened, file_format="csv")
            except SecretsAlreadyTaken:
                os.unlink(args.out)  # another export took them meanwhile: that one is the only one
                raise
            print(
                f"batch {batch['id']}: {batch['size']} cards, {batch['first_serial']} - {batch['last_serial']}; "
                f"secrets written to {args.out} (the only export that will contain them)"
            )
            return 0
        except DomainError as exc:
            _print_refusal(exc)
            return 1
        except OSError as exc:
            print(f"the secrets could not be written to {args.out}: {exc}", file=sys.stderr)
            if batch is not None:
                print(
                    f"batch {batch['id']} keeps them sealed: export them from its page, or with "
                    f"POST /api/v1/card-batches/{batch['id']}/export",
                    file=sys.stderr,
                )
            return 1
        finally:
            await log_out(actor)

    try:
        return asyncio.run(run())
    except DomainError as exc:  # the login itself failed
        _print_refusal(exc)
        return 1


# --- backups ---------------------------------------------------------------------------------------


def _has_tables(path: str) -> bool:
    """Whether an SQLite file exists and holds any table (an empty or missing file does not)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
    finally:
        connection.close()


def backup_sqlite(source: str, destination: str) -> None:
    """Copy the SQLite database `source` to the file `destination` with SQLite's online backup
    API. It copies every page in one step, inside one read transaction: a consistent snapshot,
    while the server goes on writing (in WAL mode writers do not wait for it). The copy is a
    single self-contained file (rollback journal, not WAL), checked, readable by its owner only,
    and it replaces `destination` only once complete (replaced_atomically)."""
    if not os.path.isfile(source):
        raise CommandFailed(f"no database at {source}")
    with replaced_atomically(destination) as temp:
        src = sqlite3.connect(source, timeout=30)
        try:
            dest = sqlite3.connect(temp)
            try:
                src.backup(dest)  # pages=-1: all at once, from one snapshot
                dest.execute("PRAGMA journal_mode=DELETE")
                check = dest.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                dest.close()
        finally:
            src.close()
        if check != "ok":
            raise CommandFailed(f"the copy does not check: {check}")


def restore_sqlite(source: str, destination: str, *, force: bool = False) -> None:
    """Copy the backup `source` into the database file `destination` (SQLite's backup API, which
    takes the destination's locks). Refuses a source that is not a voipagency database and, unless
    `force`, a destination that already holds tables. Run the migrations afterwards."""
    if not os.path.isfile(source):
        raise CommandFailed(f"no backup at {source}")
    uri = "file:" + urllib.request.pathname2url(os.path.abspath(source)) + "?mode=ro"
    try:
        src = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise CommandFailed(f"{source} cannot be opened: {exc}") from exc
    try:
        try:
            check = src.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise CommandFailed(f"{source} is not an SQLite database: {exc}") from exc
        if check != "ok":
            raise CommandFailed(f"{source} does not check: {check}")
        if "migration" not in tables:
            raise CommandFailed(f"{source} is not a voipagency database")
        if _has_tables(destination) and not force:
            raise CommandFailed(
                f"{destination} already holds a database; restore with --force to replace it (stop the server first)"
            )
        dest = sqlite3.connect(destination, timeout=30)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()


def _libpq_command(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment carrying it as PGPASSWORD: a password
    on a command line would show in the process list."""
    env = dict(os.environ)
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user, _colon, password = userinfo.partition(":")
        env["PGPASSWORD"] = urllib.parse.unquote(password)
        parts = parts._replace(netloc=f"{user}@{hostport}")
    return urllib.parse.urlunsplit(parts), env


def backup_postgres(url: str, destination: str) -> None:
    """pg_dump's custom format (restore it with pg_restore), when pg_dump is on the PATH."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise CommandFailed(
            "voipagency backup copies SQLite databases itself; for PostgreSQL it runs pg_dump, which is not "
            "on the PATH. Install the PostgreSQL client, or run: "
            'pg_dump --format=custom --file=FILE "$DATABASE_URL" (see README.md, Backups)'
        )
    dsn, env = _libpq_command(url)
    with replaced_atomically(destination) as temp:
        done = subprocess.run(
            [pg_dump, "--format=custom", "--file", temp, "--dbname", dsn], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise CommandFailed(f"pg_dump failed: {done.stderr.strip()}")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    unwritable = _writable_file(args.file)
    if unwritable:
        print(unwritable, file=sys.stderr)
        return 1
    try:
        if settings.database_url:
            backup_postgres(settings.database_url, args.file)
        else:
            backup_sqlite(settings.sqlite_path, args.file)
    except (CommandFailed, sqlite3.Error, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backed up to {args.file}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url:
        print(
            "voipagency restore restores SQLite backups; for PostgreSQL, restore a pg_dump file with pg_restore "
            "into an empty database, then run voipagency migrate (see README.md, Backups)",
            file=sys.stderr,
        )
        return 1
    try:
        restore_sqlite(args.file, settings.sqlite_path, force=args.force)
    except (CommandFailed, sqlite3.Error, OSError) as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    asyncio.run(_migrate(settings))
    print(f"restored {args.file} into {settings.sqlite_path}; migrations applied")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voipagency", description="Prepaid VoIP agency management")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the web UI and APIs")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (sessions are shared)")
    serve.add_argument(
        "--switch-port",
        type=int,
        default=None,
        help="also serve the switch API alone on this port, by worker processes of its own (as many as --workers)",
    )
    serve.add_argument("--no-migrate", action="store_true", help="skip migrations (a one-shot step runs them)")
    serve.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-For from the proxy")
    serve.add_argument("--forwarded-allow-ips", default="", help="addresses of trusted proxies")
    serve.add_argument(
        "--access-log", action="store_true", help="log every request (off by default: ~60 us of CPU per request)"
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply pending migrations and exit").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load demo data into an empty database").set_defaults(func=cmd_demo)
    create = sub.add_parser("create-user", help="create an operator staff user")
    create.add_argument("username")
    create.add_argument("--role", choices=("admin", "finance", "support"), default="admin")
    create.add_argument("--name", default="")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_create_user)
    audit = sub.add_parser("audit", help="audit log maintenance")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    purge = audit_sub.add_parser("purge", help="delete entries past the retention period")
    purge.add_argument("--days", type=int, default=0, help="retention in days (at least 30)")
    purge.set_defaults(func=cmd_audit_purge)
    agents = sub.add_parser("agents", help="agent tree maintenance")
    agents_sub = agents.add_subparsers(dest="agents_command", required=True)
    agents_sub.add_parser("tick", help="apply due terminations now").set_defaults(func=cmd_agents_tick)
    cards = sub.add_parser("cards", help="card batches")
    cards_sub = cards.add_subparsers(dest="cards_command", required=True)
    generate = cards_sub.add_parser("generate", help="generate a batch as an agent owner, with a progress bar")
    generate.add_argument("--user", required=True, help="the agent owner's user name")
    generate.add_argument("--kind", choices=("recharge", "e-card"), default="recharge")
    generate.add_argument("--count", type=int, required=True)
    generate.add_argument("--face-minutes", type=int, required=True)
    generate.add_argument(
        "--expiry-rule", default="none", choices=("none", "fixed_date", "days_after_activation", "days_after_creation")
    )
    generate.add_argument("--expiry-days", type=int, default=None)
    generate.add_argument("--expiry-date", default="")
    generate.add_argument("--prefix", default="86")
    generate.add_argument("--notes", default="")
    generate.add_argument("--out", required=True, help="CSV file for the one export with the secrets")
    generate.add_argument(
        "--passwords-stdin",
        action="store_true",
        help="read the login and operation passwords as two lines of standard input",
    )
    generate.set_defaults(func=cmd_cards_generate)
    backup = sub.add_parser(
        "backup", help="copy the SQLite database to FILE while the server runs (PostgreSQL: pg_dump's custom format)"
    )
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore an SQLite backup into the configured database, then migrate")
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help="replace a database that already holds data")
    restore.set_defaults(func=cmd_restore)
    ledger = sub.add_parser("ledger", help="the money and airtime ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_sub.add_parser("verify", help="check every ledger invariant; exit 1 on any breach").set_defaults(
        func=cmd_ledger_verify
    )
    stats = sub.add_parser("stats", help="the daily statistics of every agent")
    stats_sub = stats.add_subparsers(dest="stats_command", required=True)
    stats_sub.add_parser(
        "verify", help="compare the statistics with a recomputation from their sources; exit 1 on any difference"
    ).set_defaults(func=cmd_stats_verify)
    stats_sub.add_parser(
        "rebuild", help="recompute the statistics from their sources (after an upgrade or a restore)"
    ).set_defaults(func=cmd_stats_rebuild)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
