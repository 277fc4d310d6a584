"""The `voipagency` command: serve, migrate, create-user, demo, audit purge, agents tick."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from core.db import bind_engine, engine_from_url, migrate, prepare_sqlite
from core.errors import DomainError, ValidationFailed
from web.settings import Settings, SettingsError


async def _connect(settings: Settings) -> None:
    engine = engine_from_url(settings.database_url, settings.sqlite_path)
    bind_engine(engine)
    await prepare_sqlite(engine)


async def _migrate(settings: Settings) -> None:
    await _connect(settings)
    await migrate()


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


async def _prepare_for_serving(settings: Settings, *, migrate: bool) -> bool:
    """Migrate (unless a separate step does); in demo mode, load the demo into an empty database.
    True when demo logins exist."""
    from web.demo import is_empty, load_demo

    if migrate:
        await _migrate(settings)
    else:
        await _connect(settings)
    if not settings.demo:
        return False
    if await is_empty():
        await load_demo()
    return True


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from web.serving import serve

    demo = asyncio.run(_prepare_for_serving(settings, migrate=not args.no_migrate))
    if demo:
        _print_demo_logins(args.host, args.port)
    return serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
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
    from web.demo import is_empty, load_demo

    async def run() -> int:
        await _migrate(settings)
        if not await is_empty():
            print("the database already has users; demo data is loaded only into an empty database", file=sys.stderr)
            return 1
        await load_demo()
        return 0

    code = asyncio.run(run())
    if code == 0:
        _print_demo_logins("127.0.0.1", 8000)
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


def _progress_bar(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total if total else width
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}", end="", file=sys.stderr, flush=True)


def cmd_cards_generate(args: argparse.Namespace, settings: Settings) -> int:
    """Generate a batch as an agent's owner, with a progress bar, and write its one export with
    the secrets to --out (CSV). Passwords are read without echo, or as two lines of stdin."""
    from agency.sessions import log_in, log_out
    from cards.exports import export_batch
    from cards.services import prepare_batch, write_batch

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
            export = await export_batch(actor, batch["id"], card_key=settings.card_key, file_format="csv")
            with open(args.out, "w", newline="", encoding="utf-8") as out:
                out.write("serial,secret,minutes,status\n")
                for card in export.cards:
                    out.write(f"{card['serial']},{card.get('secret', '')},{batch['face_minutes']},{card['status']}\n")
            print(
                f"batch {batch['id']}: {batch['size']} cards, {batch['first_serial']} - {batch['last_serial']}; "
                f"secrets written to {args.out} (the only export that will contain them)"
            )
            return 0
        except DomainError as exc:
            _print_refusal(exc)
            return 1
        finally:
            await log_out(actor)

    try:
        return asyncio.run(run())
    except DomainError as exc:  # the login itself failed
        _print_refusal(exc)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voipagency", description="Prepaid VoIP agency management")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the web UI and APIs")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (sessions are shared)")
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
    ledger = sub.add_parser("ledger", help="the money and airtime ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_sub.add_parser("verify", help="check every ledger invariant; exit 1 on any breach").set_defaults(
        func=cmd_ledger_verify
    )
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
