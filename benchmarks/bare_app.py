"""The baseline of the HTTP figures: a bare Litestar app whose one endpoint answers constant JSON,
served exactly as `voipagency serve` serves the product (web/serving.py's `serve`, same worker
processes, same uvicorn options as web/cli.py's cmd_serve passes). What is left of a balance check
once the product's work is taken away: the server, the framework, the load generator.

    .venv/bin/python -m benchmarks.bare_app --port 8001 [--workers 1]
"""

from __future__ import annotations

import argparse
import sys

from litestar import Litestar, get

# About the size and shape of GET /api/v1/portal/balance's answer.
CONSTANT = {
    "account_number": "8600000001",
    "status": "active",
    "balance_seconds": 3600,
    "balance_minutes": 60,
    "expires_at": None,
    "days_to_expiry": None,
}


@get("/constant")
async def constant() -> dict[str, object]:
    return CONSTANT


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[constant, healthz])


def main() -> None:
    from web import serving

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serving.APP = "benchmarks.bare_app:create_app"  # what serve() and its workers import
    # The options cmd_serve passes when no serve flag is given (no proxy headers, no access log).
    sys.exit(
        serving.serve(
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=False,
            forwarded_allow_ips=None,
            log_level="info",
            access_log=False,
        )
    )


if __name__ == "__main__":
    main()
