"""JSON API v1 for cards: the same services, scoping and errors as the pages.
Secrets are never in a JSON answer: they leave only in the batch's first export file."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from cards import exports, jobs, services
from web import labels
from web.auth import access
from web.controllers.answers import Page, answer, page_of
from web.controllers.cards import export_format, export_response, portal_address
from web.settings import Settings


@dataclass
class BatchIn:
    kind: str
    count: int
    face_minutes: int
    operation_password: str
    idempotency_key: str
    expiry_rule: str = "none"
    expiry_date: str = ""
    expiry_days: int | None = None
    prefix: str = "86"
    notes: str = ""


@dataclass
class RangeIn:
    serial_from: str
    idempotency_key: str
    serial_to: str = ""
    operation_password: str = ""


@dataclass
class SecretsExportIn:
    operation_password: str
    format: str = "csv"


class BatchOut(msgspec.Struct):
    """A batch of cards as listed: its rule, serial range and owner; never a secret."""

    id: int
    agent: int
    kind: str
    size: int
    face_minutes: int
    expiry_rule: str
    expiry_date: dt.date | None
    expiry_days: int | None
    prefix: str
    first_number: int
    last_number: int
    notes: str
    status: str
    created_at: dt.datetime
    secrets_exported_at: dt.datetime | None
    agent_name: str
    agent_path: str


class BatchDetailOut(BatchOut):
    """One batch, with its first and last serial and how many of its cards are in each state."""

    first_serial: str
    last_serial: str
    counts: dict[str, int]
    secrets_exported_by: str | None  # the user name of who took the secrets, once taken


class JobStartedAnswer(msgspec.Struct):
    """A large batch is being generated in the background: poll GET /api/v1/card-jobs/{job_id}."""

    job_id: int


class JobOut(msgspec.Struct):
    """A batch generated in the background: its state, progress and, once done, its batch."""

    id: int
    size: int
    status: str
    batch: int | None
    error: str
    host: str
    pid: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    done: int
    percent: int
    progress_known: bool


class CardOut(msgspec.Struct):
    """One card: serial, state and dates; never its secret."""

    id: int
    batch: int
    serial: str
    status: str
    activated_at: dt.datetime | None
    expires_at: dt.datetime | None
    redeemed_at: dt.datetime | None
    redeemed_by: int | None
    kind: str
    face_minutes: int
    agent_name: str


class ActivatedAnswer(msgspec.Struct):
    """Cards sold: recharge cards activated, and subscriber accounts opened by e-cards."""

    activated: int
    accounts_opened: int


class VoidedAnswer(msgspec.Struct):
    """Cards voided, and the minutes that went back to the agent's stock."""

    voided: int
    minutes_returned: int


class RechargeAnswer(msgspec.Struct):
    """A recharge card redeemed: its minutes, and the subscriber's balance after it."""

    serial: str
    minutes: int
    balance_seconds: int


class CardsApiController(Controller):
    path = "/api/v1"
    tags = ["cards"]

    @get("/card-batches", opt=access("view_cards"))
    async def list_batches(self, request: Request, page: FromQuery[int] = 1) -> Page[BatchOut]:
        rows, total = await services.list_batches(request.user, page=page)
        return page_of(BatchOut, rows, total, page)

    @post(
        "/card-batches",
        opt=access("generate_cards"),
        status_code=201,
        responses={202: ResponseSpec(JobStartedAnswer, description="A job generates the batch")},
    )
    async def generate(
        self, request: Request, data: JSONBody[BatchIn], settings: NamedDependency[Settings]
    ) -> Response[BatchDetailOut | JobStartedAnswer]:
        """Generates the batch (201 with the batch), or for 20,000 cards or more starts a job
        (202 with {"job_id"}; poll GET /api/v1/card-jobs/{id}). Idempotent by `idempotency_key`:
        a retry gets the same batch or job. The secrets are downloaded once, by
        POST /api/v1/card-batches/{id}/export."""
        fields = asdict(data)
        password, key = fields.pop("operation_password"), fields.pop("idempotency_key")
        made = await jobs.generate_or_start_job(
            request.user, fields, card_key=settings.card_key, operation_password=password, idempotency_key=key
        )
        if isinstance(made, jobs.JobStarted):
            return Response(JobStartedAnswer(job_id=made.job_id), status_code=202)
        return Response(answer(BatchDetailOut, made), status_code=201)

    @post("/card-batches/{batch_id:int}/export", opt=access("generate_cards"), status_code=200, media_type="text/csv")
    async def export_secrets(
        self,
        request: Request,
        batch_id: FromPath[int],
        data: JSONBody[SecretsExportIn],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        """The batch's one export with the secrets (PINs or initial passwords), as a CSV, XLSX or
        PDF file (`format`); needs the operation password. Audited; the secrets are destroyed as
        they leave, so a second call is refused (409). For serials only: GET
        /cards/batches/{id}/export."""
        file_format = export_format(data.format)
        export = await exports.export_secrets(
            request.user,
            batch_id,
            card_key=settings.card_key,
            file_format=file_format,
            operation_password=data.operation_password,
        )
        return export_response(export, file_format, portal_url=portal_address(request))

    @get("/card-jobs/{job_id:int}", opt=access("view_cards"))
    async def get_job(self, request: Request, job_id: FromPath[int]) -> JobOut:
        job = await jobs.get_job(request.user, job_id)
        return answer(JobOut, {**job, "error": labels.stored(job["error"], "en")})  # in English, as it always was

    @get("/card-batches/{batch_id:int}", opt=access("view_cards"))
    async def get_batch(self, request: Request, batch_id: FromPath[int]) -> BatchDetailOut:
        return answer(BatchDetailOut, await services.get_batch(request.user, batch_id))

    @get("/cards", opt=access("view_cards"))
    async def list_cards(
        self,
        request: Request,
        serial: FromQuery[str] = "",
        status: FromQuery[str] = "",
        batch_id: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
    ) -> Page[CardOut]:
        rows, total = await services.list_cards(
            request.user, serial=serial[:20], status=status[:16], batch_id=batch_id, page=page
        )
        return page_of(CardOut, rows, total, page)

    @post("/cards/activate", opt=access("sell_cards"), status_code=200)
    async def activate(self, request: Request, data: JSONBody[RangeIn]) -> ActivatedAnswer:
        activated = await services.activate_cards(
            request.user, data.serial_from, data.serial_to or None, idempotency_key=data.idempotency_key
        )
        return answer(ActivatedAnswer, activated)

    @post("/cards/void", opt=access("sell_cards"), status_code=200)
    async def void(self, request: Request, data: JSONBody[RangeIn]) -> VoidedAnswer:
        voided = await services.void_cards(
            request.user,
            data.serial_from,
            data.serial_to or None,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
        )
        return answer(VoidedAnswer, voided)


ROUTES = [CardsApiController]
