"""Card pages for agents: batches, generation jobs, exports, the card list, activation and void."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from cards import exports, jobs, services
from core.errors import N_, NotFound, ValidationFailed
from web import flash, labels
from web.auth import access
from web.controllers.forms import confirm_page, confirmed, form_action, form_data, query_id, redirect, refusal
from web.controllers.paging import PER_PAGE, page_count
from web.errors import FORM_REFUSALS
from web.exports import table_response
from web.formatting import datetime_local
from web.i18n import gettext as _
from web.rendering import render
from web.settings import Settings


async def _batches_context(request: Request, page: int = 1) -> dict:
    rows, total = await services.list_batches(request.user, page=page, per_page=PER_PAGE)
    return {
        "batches": rows,
        "total": total,
        "page": page,
        "errors": {},
        "values": {},
        "error": None,
        "kinds": services.KINDS,
        "rules": services.EXPIRY_RULES,
        "idempotency_key": uuid.uuid4().hex,
    }


@get("/cards/batches", opt=access("view_cards"))
async def batches_page(request: Request, page: FromQuery[int] = 1) -> Response:
    return render(request, "cards/batches.html", **await _batches_context(request, page))


@post("/cards/batches", opt=access("generate_cards"))
async def generate_batch(request: Request, settings: NamedDependency[Settings]) -> Response:
    data = await form_data(request)
    try:
        made = await jobs.generate_or_start_job(
            request.user,
            data,
            card_key=settings.card_key,
            operation_password=data.get("operation_password"),
            idempotency_key=data.get("idempotency_key"),
        )
    except FORM_REFUSALS as exc:
        context = await _batches_context(request)
        return refusal(request, "cards/batches.html", exc, **{**context, "values": data})
    if isinstance(made, jobs.JobStarted):
        flash.say(request, "batch_started")
        return redirect(request, f"/cards/jobs/{made.job_id}")
    flash.say(request, "batch_generated", id=made["id"], count=made["size"])
    return redirect(request, f"/cards/batches/{made['id']}")


@get("/cards/jobs/{job_id:int}", opt=access("view_cards"))
async def job_page(request: Request, job_id: FromPath[int]) -> Response:
    """A batch being generated: a progress bar that htmx refreshes until the batch is ready."""
    job = await jobs.get_job(request.user, job_id)
    return render(request, "cards/job.html", partial="cards/_job.html", job=job)


async def _batch_context(request: Request, batch_id: int) -> dict:
    batch = await services.get_batch(request.user, batch_id)
    return {
        "batch": batch,
        "may_take_secrets": exports.may_take_secrets(request.user, batch),
        "formats": EXPORT_FORMATS,
        "idempotency_key": uuid.uuid4().hex,
        "error": None,
        "errors": {},
    }


@get("/cards/batches/{batch_id:int}", opt=access("view_cards"))
async def batch_page(request: Request, batch_id: FromPath[int]) -> Response:
    return render(request, "cards/batch.html", **await _batch_context(request, batch_id))


EXPORT_FORMATS = ("csv", "xlsx", "pdf")
CONFIRM_EXPORT = N_("Confirm that you will keep this file: it is the only one with the secrets.")


def export_format(value: object) -> str:
    return value if value in EXPORT_FORMATS else "csv"


def _expiry_text(batch: dict, expires_at: dt.datetime | None) -> str:
    if expires_at is not None:
        return datetime_local(expires_at)[:10]
    if batch["expiry_rule"] == "days_after_activation":
        return _("%(n)s days after activation") % {"n": batch["expiry_days"]}
    return "—"


@get("/cards/batches/{batch_id:int}/export", opt=access("view_cards"))
async def export_batch(request: Request, batch_id: FromPath[int], format: FromQuery[str] = "csv") -> Response:
    """The batch's cards with serials and states, never secrets (those leave once, by POST)."""
    file_format = export_format(format)
    export = await exports.export_serials(request.user, batch_id, file_format=file_format)
    return export_response(export, file_format, portal_url=portal_address(request))


@post("/cards/batches/{batch_id:int}/export", opt=access("generate_cards"), status_code=200)
async def export_batch_secrets(
    request: Request, batch_id: FromPath[int], settings: NamedDependency[Settings]
) -> Response:
    """The one export with the secrets: first what it holds, and a confirmation that this file
    will be the only one with them, with the operation password; then, confirmed, the file."""
    data = await form_data(request)
    try:
        if not confirmed(data):
            batch = await services.get_batch(request.user, batch_id)  # another's batch: not found, as everywhere
            if batch["secrets_exported_at"] is not None or not exports.may_take_secrets(request.user, batch):
                raise ValidationFailed({"confirm": CONFIRM_EXPORT})
            return _confirm_export(request, batch, data)
        file_format = export_format(data.get("format"))
        export = await exports.export_secrets(
            request.user,
            batch_id,
            card_key=settings.card_key,
            file_format=file_format,
            operation_password=data.get("operation_password"),
        )
    except FORM_REFUSALS as exc:
        return refusal(request, "cards/batch.html", exc, **await _batch_context(request, batch_id))
    return export_response(export, file_format, portal_url=portal_address(request))


def _confirm_export(request: Request, batch: dict, data: dict) -> Response:
    return confirm_page(
        request,
        title=_("Export the secrets of batch #%(id)s?") % {"id": batch["id"]},
        summary=[
            (_("Agent"), batch["agent_name"]),
            (_("Cards"), f"{batch['size']:,}"),
            (_("Minutes"), f"{batch['size'] * batch['face_minutes']:,}"),
            (_("Serials"), f"{batch['first_serial']} – {batch['last_serial']}"),
            (_("Format"), export_format(data.get("format")).upper()),
        ],
        items=[_("This file is the only one with the secrets: they are destroyed as it leaves. Keep it safe.")],
        data={"format": export_format(data.get("format"))},
        button=_("Export with the secrets"),
        back=f"/cards/batches/{batch['id']}",
        password=True,
    )


def portal_address(request: Request) -> str:
    """The subscriber portal's address as this request reached the site (its host is one of the
    allowed hosts), printed on card sheets."""
    return f"{str(request.base_url).rstrip('/')}/portal"


def export_response(export: exports.BatchExport, file_format: str, *, portal_url: str = "") -> Response:
    """A batch's export as a CSV, XLSX or printable PDF download (R-17); the secrets' column only
    in the export with secrets. The PDF sheet says where to log in or recharge (`portal_url`)."""
    batch = export.batch
    secret_label = _("PIN") if batch["kind"] == "recharge" else _("Initial password")
    name = f"batch-{batch['id']}" + ("-with-secrets" if export.with_secrets else "")
    if file_format == "pdf":
        from cards.sheets import SheetCard, card_sheet_pdf

        sheet = card_sheet_pdf(
            (
                SheetCard(
                    serial=c["serial"],
                    secret=c.get("secret"),
                    face_minutes=batch["face_minutes"],
                    expires=_expiry_text(batch, c["expires_at"]),
                    kind=batch["kind"],
                )
                for c in export.cards
            ),
            title=batch["agent_name"],
            labels={
                "serial": _("Serial"),
                "pin": _("PIN"),
                "password": _("Initial password"),
                "minutes": _("minutes"),
                "expires": _("Expires"),
                "page": _("Page"),
                "account_number": _("Account number"),
                "log_in": _("Log in at {url}"),
                "recharge_at": _("Recharge at {url}"),
            },
            portal_url=portal_url,
        )
        return Response(
            sheet, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'}
        )
    header = [_("Serial"), *([secret_label] if export.with_secrets else []), _("Minutes"), _("Status"), _("Expires")]
    rows = [
        [
            c["serial"],
            *([c["secret"]] if export.with_secrets else []),
            batch["face_minutes"],
            labels.label(c["status"], "card_status"),
            _expiry_text(batch, c["expires_at"]),
        ]
        for c in export.cards
    ]
    return table_response(name, file_format, header, rows)


async def _cards_context(request: Request, *, values: dict | None = None, **filters):
    rows, total = await services.list_cards(request.user, per_page=PER_PAGE, **filters)
    return {
        "cards": rows,
        "total": total,
        "page": filters.get("page", 1),
        "pages": page_count(total),
        "filters": {"serial": "", "status": "", "batch": ""},
        "error": None,
        "errors": {},
        "values": values or {},
        "idempotency_key": uuid.uuid4().hex,
    }


@get("/cards", opt=access("view_cards"))
async def cards_page(
    request: Request,
    serial: FromQuery[str] = "",
    status: FromQuery[str] = "",
    batch: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response:
    batch_id = query_id(batch)
    # The cards of one batch: its whole range is what the range form offers to activate or void.
    values = None
    if batch_id:
        try:
            whole = await services.get_batch(request.user, batch_id)
            values = {"serial_from": whole["first_serial"], "serial_to": whole["last_serial"]}
        except NotFound:  # another's batch, or none: the list says no cards, the form stays empty
            pass
    context = await _cards_context(
        request, values=values, serial=serial[:20], status=status[:16], batch_id=batch_id, page=page
    )
    context["filters"] = {"serial": serial[:20], "status": status[:16], "batch": batch[:9]}
    return render(request, "cards/cards.html", partial="cards/_cards.html", **context)


async def _range_action(request: Request, step: str, action) -> Response:
    """Activate or void (`step`) a range of cards: a range of more than one card, or any void,
    first shows what it would do (cards, minutes, batches, accounts) and asks to confirm; then,
    confirmed, the step itself, said on the cards page."""

    async def act(data: dict) -> dict:
        if not confirmed(data):
            preview = await services.preview_range(request.user, data.get("serial_from"), data.get("serial_to"), step)
            if step == "void" or preview["cards"] > 1:
                return {"preview": preview}
        return await action(data)

    async def done(result: dict) -> Response:
        if "preview" in result:
            return _confirm_range(request, step, result["preview"], await form_data(request))
        if step == "void":
            flash.say(request, "cards_voided", count=result["voided"], minutes_seconds=result["minutes_returned"] * 60)
        else:
            flash.say(request, "cards_activated", activated=result["activated"], opened=result["accounts_opened"])
        return render(request, "cards/cards.html", **await _cards_context(request))

    return await form_action(
        request,
        act,
        done=done,
        page="cards/cards.html",
        context=lambda data: _cards_context(request, values=data),
    )


def _confirm_range(request: Request, step: str, preview: dict, data: dict) -> Response:
    summary = [
        (_("Serials"), f"{preview['serial_from']} – {preview['serial_to']}"),
        (_("Cards"), f"{preview['cards']:,}"),
        (_("Minutes"), f"{preview['seconds'] // 60:,}"),
        (_("Batches"), ", ".join(f"#{b}" for b in preview["batches"])),
    ]
    if preview["accounts"]:
        summary.append((_("Accounts it opens"), f"{preview['accounts']:,}"))
    if step == "void":
        title, button = _("Void these cards?"), _("Void")
    else:
        title, button = _("Activate these cards?"), _("Activate")
    return confirm_page(
        request,
        title=title,
        summary=summary,
        items=preview["account_numbers"],
        data={k: data.get(k, "") for k in ("serial_from", "serial_to", "idempotency_key")},
        button=button,
        back="/cards",
        password=step == "void",
    )


@post("/cards/activate", opt=access("sell_cards"))
async def activate_cards(request: Request) -> Response:
    return await _range_action(
        request,
        "activate",
        lambda d: services.activate_cards(
            request.user, d.get("serial_from"), d.get("serial_to"), idempotency_key=d.get("idempotency_key")
        ),
    )


@post("/cards/void", opt=access("sell_cards"))
async def void_cards(request: Request) -> Response:
    return await _range_action(
        request,
        "void",
        lambda d: services.void_cards(
            request.user,
            d.get("serial_from"),
            d.get("serial_to"),
            operation_password=d.get("operation_password"),
            idempotency_key=d.get("idempotency_key"),
        ),
    )


ROUTES = [
    batches_page,
    generate_batch,
    job_page,
    batch_page,
    export_batch,
    export_batch_secrets,
    cards_page,
    activate_cards,
    void_cards,
]
