"""Large batches are generated in the background (R-12): the request returns at once with a job
the page can poll for progress, and leave and come back to. The batch is still one
transaction, so a job whose process dies leaves no card and no reservation; its row then reads
as interrupted."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from typing import Any

from agency.agents import valid_id
from agency.roles import Actor
from agency.tree import in_subtree
from cards.services import BatchSpec, get_batch, prepare_batch, write_batch
from cards.tables import CardJob
from core import stored_text
from core.clock import now
from core.errors import N_, DomainError, NotFound
from money.idempotency import NO_KEY, run_once

log = logging.getLogger("voipagency")
BACKGROUND_FROM = 20_000  # batches this large or larger run as jobs
INTERRUPTED = stored_text.message(N_("The server stopped while the batch was being generated."))
HOST = socket.gethostname()[:100]
_progress: dict[int, tuple[int, int]] = {}  # job id -> (cards written, total), for jobs of this process
_tasks: set[asyncio.Task] = set()


@dataclass(frozen=True)
class JobStarted:
    """A batch too large to wait for: job `job_id` writes it in the background."""

    job_id: int


async def generate_or_start_job(
    actor: Actor,
    data: dict[str, object],
    *,
    card_key: bytes,
    operation_password: object,
    idempotency_key: object = NO_KEY,
) -> dict[str, Any] | JobStarted:
    """The one place that decides how a batch is made: everything is checked now (so errors show
    on the form or in the API's answer), then a batch of BACKGROUND_FROM cards or more is written
    by a job, a smaller one at once. Returns the new batch, or the started job. Idempotent by
    `idempotency_key` (R-7): a retry gets the same batch, or the same job, and makes nothing."""
    spec, agent = await prepare_batch(actor, data, operation_password)
    params = asdict(spec)
    if spec.count >= BACKGROUND_FROM:
        mine = secrets.token_hex(8)

        async def start() -> dict[str, Any]:
            return {"job_id": await _insert_job(actor, spec, agent), "made_by": mine}

        job = await run_once(actor, idempotency_key, "generate_batch", params, start)
        if job["made_by"] == mine:  # this request's job was committed (a retry's was not): run it
            _run_job(job["job_id"], actor, spec, agent, card_key=card_key)
        return JobStarted(job["job_id"])

    async def write() -> dict[str, Any]:
        batch, _pairs = await write_batch(actor, spec, agent, card_key=card_key, return_pairs=False)
        return {"batch_id": batch["id"]}

    made = await run_once(actor, idempotency_key, "generate_batch", params, write)
    return await get_batch(actor, made["batch_id"])


async def _insert_job(actor: Actor, spec: BatchSpec, agent: dict[str, Any]) -> int:
    rows = await CardJob.insert(
        CardJob(
            agent=agent["id"],
            requested_by=actor.user_id,
            size=spec.count,
            status="running",
            host=HOST,
            pid=os.getpid(),
            started_at=now(),
        )
    ).returning(CardJob.id)
    return rows[0]["id"]


def _run_job(job_id: int, actor: Actor, spec: BatchSpec, agent: dict[str, Any], *, card_key: bytes) -> None:
    """Write a checked batch in the background, for the job `job_id` (committed)."""
    _progress[job_id] = (0, spec.count)

    async def run() -> None:
        try:
            batch, _pairs = await write_batch(
                actor,
                spec,
                agent,
                card_key=card_key,
                return_pairs=False,
                progress=lambda done, total: _progress.__setitem__(job_id, (done, total)),
            )
            await CardJob.update(
                {CardJob.status: "done", CardJob.batch: batch["id"], CardJob.finished_at: now()}
            ).where(CardJob.id == job_id)
        except Exception as exc:  # the job's row records the failure; nothing of the batch remains
            log.exception("card job %s failed", job_id)
            error = (
                stored_text.message(exc.message, **exc.params)
                if isinstance(exc, DomainError)
                else stored_text.message(N_("An internal error stopped the batch."))
            )
            await CardJob.update(
                {CardJob.status: "failed", CardJob.error: error[:200], CardJob.finished_at: now()}
            ).where(CardJob.id == job_id)
        finally:
            _progress.pop(job_id, None)

    task = asyncio.create_task(run())
    _tasks.add(task)  # keep a reference until it is done
    task.add_done_callback(_tasks.discard)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def get_job(actor: Actor, job_id: int) -> dict[str, Any]:
    """The job's state and, when its own process answers, how many cards are written."""
    if not valid_id(job_id) or not actor.can("view_cards"):
        raise NotFound()
    query = CardJob.select(
        CardJob.id,
        CardJob.size,
        CardJob.status,
        CardJob.batch,
        CardJob.error,
        CardJob.host,
        CardJob.pid,
        CardJob.started_at,
        CardJob.finished_at,
    ).where(CardJob.id == job_id)
    if (scope := in_subtree(actor, CardJob.agent.path)) is not None:
        query = query.where(scope)
    job = await query.first()
    if job is None:
        raise NotFound()
    if job["status"] == "running" and job["host"] == HOST and job_id not in _progress and not _alive(job["pid"]):
        await CardJob.update(
            {CardJob.status: "failed", CardJob.error: INTERRUPTED, CardJob.finished_at: now()}
        ).where((CardJob.id == job_id) & (CardJob.status == "running"))
        job.update(status="failed", error=INTERRUPTED)
    done, total = _progress.get(job_id, (job["size"] if job["status"] == "done" else 0, job["size"]))
    job["done"], job["percent"] = done, (100 * done // total if total else 0)
    job["progress_known"] = job_id in _progress or job["status"] != "running"
    return job
