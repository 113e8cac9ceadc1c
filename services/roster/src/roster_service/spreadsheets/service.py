"""Spreadsheet import and export: the roster reads and writes behind the CSV/XLSX files.

The layout, parsing and file writing live in `sheets.py` and `rows.py`; the reads and writes are
here. An import writes its rows in chunks, each chunk in a savepoint; when a chunk fails, it is
rolled back and its rows are written again one savepoint each, so only the row at fault is lost.
(One savepoint per row from the start costs a dozen statements per row: minutes for a big file.)
Feed items and audit entries are appended once every expert is written, so the feed lock is
taken after the experts' row locks, in the same order as every other writer takes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from mnr_shared.api import Result
from mnr_shared.auth import Principal
from roster_service.experts.service import (
    STATUS_MOVES,
    ExpertFilters,
    apply_fields,
    search_condition,
    searcher_sees_everything,
)
from roster_service.feed.service import Entry, record_all
from roster_service.models import Expert, ExpertStatus
from roster_service.profiles import Bundle, full, load_bundles, new_expert, public, stored_vetting, touch
from roster_service.schemas import ExpertCreate, ExpertUpdate
from roster_service.spreadsheets import rows as sheet_rows
from roster_service.spreadsheets import sheets
from roster_service.spreadsheets.rows import ImportOutcome, ImportReport, ImportRow, ParsedRow, RowError

IMPORT_REASON = "Spreadsheet import."
# Rows per savepoint and per IN (...) query (well inside SQLite's and asyncpg's parameter limits).
_CHUNK = 200


# --- import -----------------------------------------------------------------------------------


@dataclass
class _Planned:
    """A valid import row and what it will do: create (no bundle) or update, maybe moving status."""

    row: ParsedRow
    body: ExpertCreate
    bundle: Bundle | None
    status: ExpertStatus | None = None


@dataclass
class _Written:
    planned: _Planned
    bundle: Bundle
    fields: list[str]


async def _bundles_by_email(
    session: AsyncSession, emails: Sequence[str], *, lock: bool, refresh: bool = False
) -> dict[str, Bundle]:
    """Live experts with these (lower-case) emails, with their profiles, in a few queries; `lock`
    takes their row locks in email order, `refresh` overwrites what the session holds of them."""
    found: dict[str, Bundle] = {}
    for start in range(0, len(emails), _CHUNK):
        query = (
            select(Expert)
            .where(col(Expert.email).in_(emails[start : start + _CHUNK]), col(Expert.erased_at).is_(None))
            .order_by(col(Expert.email))
        )
        if lock:
            query = query.with_for_update()
        if refresh:
            query = query.execution_options(populate_existing=True)
        for bundle in await load_bundles(session, list((await session.scalars(query)).all())):
            found[bundle.expert.email or ""] = bundle
    return found


def _plan(row: ParsedRow, bundle: Bundle | None) -> _Planned | ImportRow:
    """What a row will do, or its rejection (invalid, or a status change vetting does not allow)."""
    body = row.body
    if body is None:
        return sheet_rows.rejected(row)
    if bundle is None:
        return _Planned(row=row, body=body, bundle=None)
    current = bundle.expert.status
    wanted = body.status if body.status is not None and body.status != current else None
    if wanted is not None and wanted not in STATUS_MOVES[current]:
        allowed = ", ".join(sorted(s.value for s in STATUS_MOVES[current])) or "none"
        msg = f"an expert who is {current.value} cannot become {wanted.value} (allowed: {allowed})"
        return sheet_rows.rejected(row, RowError(field="status", msg=msg))
    return _Planned(row=row, body=body, bundle=bundle, status=wanted)


def _outcome(planned: _Planned, expert_id: uuid.UUID | None) -> ImportRow:
    created = planned.bundle is None
    return ImportRow(
        row=planned.row.number,
        email=planned.body.email,
        outcome=ImportOutcome.CREATED if created else ImportOutcome.UPDATED,
        expert_id=expert_id,
    )


async def _write_experts(
    session: AsyncSession, planned: Sequence[_Planned], *, columns: frozenset[str]
) -> list[_Written]:
    """Insert or update these rows' experts and child rows (their feed items come later); all or
    nothing under the caller's savepoint."""
    written: list[_Written] = []
    stale: list[Any] = []
    created: list[Bundle] = []
    for plan in planned:
        body, bundle = plan.body, plan.bundle
        update: ExpertCreate | ExpertUpdate
        if bundle is None:
            status = body.status or ExpertStatus.APPLICANT
            bundle = Bundle(
                new_expert(full_name=body.full_name, email=body.email, modality=body.modality, status=status)
            )
            created.append(bundle)
            update = body  # a new expert takes the row as validated
        else:
            if plan.status is not None:
                bundle.expert.status = plan.status
                bundle.expert.status_reason = IMPORT_REASON
            touch(bundle.expert)
            vetting = stored_vetting(bundle.expert)
            update = sheet_rows.update_for(plan.row, columns=columns, vetting=vetting)
        stale += apply_fields(bundle, update)
        fields = set(update.model_fields_set)
        if plan.status is not None:
            fields.add("status")
        written.append(_Written(planned=plan, bundle=bundle, fields=sorted(fields)))
    for row in stale:
        await session.delete(row)
    await session.flush()  # updated experts first; old child rows before the new ones
    # New experts and their rows go in as one multi-row INSERT per table (the unit of work would
    # insert them one by one); the objects stay outside the session, read by the feed projection.
    await _insert_rows(session, [b.expert for b in created])
    for kind in ("capabilities", "languages", "countries"):
        await _insert_rows(session, [row for b in created for row in getattr(b, kind)])
    updated = [w.bundle for w in written if w.planned.bundle is not None]
    session.add_all([c for b in updated for c in (*b.capabilities, *b.languages, *b.countries)])
    await session.flush()
    return written


async def _insert_rows(session: AsyncSession, rows: Sequence[Any]) -> None:
    """One INSERT of many rows of one table, from new (transient) model objects."""
    if not rows:
        return
    table = type(rows[0]).__table__
    await session.execute(
        insert(table), [{c.key: getattr(row, c.key) for c in table.columns} for row in rows]
    )


async def _write_one_by_one(
    session: AsyncSession, chunk: Sequence[_Planned], *, columns: frozenset[str]
) -> tuple[list[_Written], list[ImportRow]]:
    """Write a failed chunk's rows one savepoint each, re-reading their experts first (another
    writer may have created one of the emails meanwhile): only the row at fault is rejected."""
    fresh = await _bundles_by_email(session, sorted(p.body.email for p in chunk), lock=True, refresh=True)
    written: list[_Written] = []
    rejected: list[ImportRow] = []
    for old in chunk:
        plan = _plan(old.row, fresh.get(old.body.email))
        if isinstance(plan, ImportRow):
            rejected.append(plan)
            continue
        try:
            async with session.begin_nested():
                written += await _write_experts(session, [plan], columns=columns)
        except IntegrityError:
            msg = "clashes with a change made at the same time; import the file again"
            rejected.append(sheet_rows.rejected(plan.row, RowError(field="email", msg=msg)))
    return written, rejected


async def import_experts(
    *, session: AsyncSession, by: Principal, upload: sheets.Upload, dry_run: bool
) -> Result[ImportReport]:
    """Create, or update by email, one expert per valid row and commit them together with their
    feed items and audit entries; a rejected row is reported and leaves nothing behind, whatever
    fails; a dry run writes nothing. 422 when the file cannot be read as a whole."""
    sheet = sheets.read_sheet(upload)
    rows = sheet_rows.parse_rows(sheet)
    columns = frozenset(sheet.columns)
    emails = sorted({row.body.email for row in rows if row.body is not None})
    existing = await _bundles_by_email(session, emails, lock=not dry_run)
    results: dict[int, ImportRow] = {}
    planned: list[_Planned] = []
    for row in rows:
        plan = _plan(row, existing.get(row.body.email) if row.body is not None else None)
        if isinstance(plan, ImportRow):
            results[row.number] = plan
        else:
            planned.append(plan)
    if dry_run:
        for plan in planned:
            results[plan.row.number] = _outcome(plan, plan.bundle.expert.id if plan.bundle else None)
        return Result(sheet_rows.report(dry_run=True, rows=[results[row.number] for row in rows]))
    written: list[_Written] = []
    for start in range(0, len(planned), _CHUNK):
        chunk = planned[start : start + _CHUNK]
        try:
            async with session.begin_nested():
                written += await _write_experts(session, chunk, columns=columns)
        except IntegrityError:
            retried, rejected = await _write_one_by_one(session, chunk, columns=columns)
            written += retried
            results.update((r.row, r) for r in rejected)
    entries = [
        Entry(
            bundle=w.bundle,
            action="create" if w.planned.bundle is None else "update",
            fields=w.fields,
            reason=IMPORT_REASON,
        )
        for w in written
    ]
    await record_all(session, by=by, entries=entries)
    await session.commit()
    results.update((w.planned.row.number, _outcome(w.planned, w.bundle.expert.id)) for w in written)
    return Result(sheet_rows.report(dry_run=False, rows=[results[row.number] for row in rows]))


# --- export and template ----------------------------------------------------------------------


async def export_experts(
    *, session: AsyncSession, by: Principal, filters: ExpertFilters, fmt: sheets.SheetFormat
) -> sheets.Download:
    """Every expert matching `filters` that the caller may see, oldest first: the import layout
    for PD, admin and `roster:read` services (it re-imports as updates), the public columns of
    active experts for a country office; anyone else is 403."""
    privileged = searcher_sees_everything(by, what="export")
    query = (
        select(Expert)
        .where(search_condition(filters, privileged=privileged))
        .order_by(col(Expert.created_at), col(Expert.id))
    )
    experts = list((await session.scalars(query)).all())
    rows: list[list[sheets.Cell]] = []
    for start in range(0, len(experts), _CHUNK):
        for bundle in await load_bundles(session, experts[start : start + _CHUNK]):
            rows.append(sheets.full_row(full(bundle)) if privileged else sheets.public_row(public(bundle)))
    columns = sheets.COLUMNS if privileged else sheets.PUBLIC_COLUMNS
    stem = f"experts-{datetime.now(UTC).date().isoformat()}"
    return sheets.Download(sheets.write_sheet(fmt, columns, rows), fmt, stem)


def import_template(fmt: sheets.SheetFormat) -> sheets.Download:
    """The import layout's header with one example row, as `experts-import-template.csv|xlsx`."""
    return sheets.Download(sheets.template(fmt), fmt, "experts-import-template")
