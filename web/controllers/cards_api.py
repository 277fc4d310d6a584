"""JSON API v1 for cards: the same services, scoping and errors as the pages.
Secrets are never in a JSON answer: they leave only in the batch's first export file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from cards import jobs, services
from web.auth import access
from web.controllers.paging import json_page
from web.settings import Settings


@dataclass
class BatchIn:
    kind: str
    count: int
    face_minutes: int
    operation_password: str
    expiry_rule: str = "none"
    expiry_date: str = ""
    expiry_days: int | None = None
    prefix: str = "86"
    notes: str = ""


@dataclass
class RangeIn:
    serial_from: str
    serial_to: str = ""
    operation_password: str = ""


class CardsApiController(Controller):
    path = "/api/v1"
    tags = ["cards"]

    @get("/card-batches", opt=access("view_cards"))
    async def list_batches(self, request: Request, page: FromQuery[int] = 1) -> dict[str, Any]:
        rows, total = await services.list_batches(request.user, page=page)
        return json_page(rows, total, page)

    @post("/card-batches", opt=access("generate_cards"), status_code=201)
    async def generate(
        self, request: Request, data: JSONBody[BatchIn], settings: NamedDependency[Settings]
    ) -> Response[dict[str, Any]]:
        """Generates the batch (201 with the batch), or for 20,000 cards or more starts a job
        (202 with {"job_id"}; poll GET /api/v1/card-jobs/{id}). The secrets are downloaded once
        from the batch's export (CSV, XLSX, PDF)."""
        fields = {k: ("" if v is None else str(v)) for k, v in asdict(data).items() if k != "operation_password"}
        if isinstance(data.count, int) and data.count >= jobs.BACKGROUND_FROM:
            job_id = await jobs.start_job(
                request.user, fields, card_key=settings.card_key, operation_password=data.operation_password
            )
            return Response({"job_id": job_id}, status_code=202)
        batch, _pairs = await services.generate_batch(
            request.user, fields, card_key=settings.card_key, operation_password=data.operation_password
        )
        return Response(batch, status_code=201)

    @get("/card-jobs/{job_id:int}", opt=access("view_cards"))
    async def get_job(self, request: Request, job_id: FromPath[int]) -> dict[str, Any]:
        return await jobs.get_job(request.user, job_id)

    @get("/card-batches/{batch_id:int}", opt=access("view_cards"))
    async def get_batch(self, request: Request, batch_id: FromPath[int]) -> dict[str, Any]:
        return await services.get_batch(request.user, batch_id)

    @get("/cards", opt=access("view_cards"))
    async def list_cards(
        self,
        request: Request,
        serial: FromQuery[str] = "",
        status: FromQuery[str] = "",
        batch_id: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
    ) -> dict[str, Any]:
        rows, total = await services.list_cards(
            request.user, serial=serial[:20], status=status[:16], batch_id=batch_id, page=page
        )
        return json_page(rows, total, page)

    @post("/cards/activate", opt=access("sell_cards"), status_code=200)
    async def activate(self, request: Request, data: JSONBody[RangeIn]) -> dict[str, int]:
        return await services.activate_cards(request.user, data.serial_from, data.serial_to or None)

    @post("/cards/void", opt=access("sell_cards"), status_code=200)
    async def void(self, request: Request, data: JSONBody[RangeIn]) -> dict[str, int]:
        return await services.void_cards(
            request.user, data.serial_from, data.serial_to or None, operation_password=data.operation_password
        )


ROUTES = [CardsApiController]
