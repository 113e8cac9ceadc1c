"""vetting gate and erasure: safeguarding-check index; feed projections carry the check date;
earlier feed items, audit reasons and create replies of erased experts keep nothing personal

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What an erased expert's earlier feed items keep (roster_service.feed.service.ERASED_PROJECTION
# when this revision was written; a migration keeps its own copy).
ERASED_PROJECTION: dict[str, Any] = {
    "full_name": None,
    "nationalities": [],
    "residence_country": None,
    "country_experience": [],
    "regions": [],
    "capabilities": [],
    "languages": [],
    "safeguarding_check_on": None,
    "unavailability": [],
    "erased": True,
}

experts = sa.table(
    "experts",
    sa.column("id", sa.Uuid()),
    sa.column("safeguarding_check_on", sa.Date()),
    sa.column("erased_at", sa.DateTime(timezone=True)),
)
changes = sa.table(
    "changes",
    sa.column("seq", sa.Integer()),
    sa.column("expert_id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("expert", sa.JSON()),
)
audit = sa.table(
    "audit",
    sa.column("expert_id", sa.Uuid()),
    sa.column("actor_sub", sa.String()),
    sa.column("actor_role", sa.String()),
    sa.column("reason", sa.String()),
)
idempotency_keys = sa.table(
    "idempotency_keys",
    sa.column("scope", sa.String()),
    sa.column("key", sa.String()),
    sa.column("response_body", sa.JSON()),
)


def _loaded(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, dict) else None


def upgrade() -> None:
    op.create_index("ix_experts_safeguarding_check_on", "experts", ["safeguarding_check_on"], unique=False)
    bind = op.get_bind()
    checked: dict[Any, Any] = {}
    erased: set[Any] = set()
    for expert_id, check_on, erased_at in bind.execute(
        sa.select(experts.c.id, experts.c.safeguarding_check_on, experts.c.erased_at)
    ):
        checked[expert_id] = check_on
        if erased_at is not None:
            erased.add(expert_id)
    # Stored projections carry the safeguarding check's date (the feed serves its expiry) and no
    # longer the years of experience; an erased expert's carry nothing personal.
    rows = bind.execute(
        sa.select(changes.c.seq, changes.c.expert_id, changes.c.expert).where(changes.c.kind == "upsert")
    ).all()
    for seq, expert_id, stored in rows:
        projection = _loaded(stored)
        if projection is None:
            continue
        projection.pop("years_experience", None)
        check_on = checked.get(expert_id)
        projection["safeguarding_check_on"] = check_on.isoformat() if check_on else None
        if expert_id in erased:
            projection.update(ERASED_PROJECTION)
        bind.execute(changes.update().where(changes.c.seq == seq).values(expert=projection))
    for expert_id in erased:
        bind.execute(audit.update().where(audit.c.expert_id == expert_id).values(reason=None))
        bind.execute(
            audit.update()
            .where(audit.c.expert_id == expert_id, audit.c.actor_role == "expert")
            .values(actor_sub="erased-expert")
        )
        bind.execute(
            idempotency_keys.delete().where(
                idempotency_keys.c.scope.startswith("create-expert:"),
                sa.cast(idempotency_keys.c.response_body, sa.String).contains(str(expert_id)),
            )
        )


def downgrade() -> None:
    # Erased data stays erased; the projections lose the key the older code did not write.
    bind = op.get_bind()
    rows = bind.execute(sa.select(changes.c.seq, changes.c.expert).where(changes.c.kind == "upsert")).all()
    for seq, stored in rows:
        projection = _loaded(stored)
        if projection is not None and "safeguarding_check_on" in projection:
            projection.pop("safeguarding_check_on")
            bind.execute(changes.update().where(changes.c.seq == seq).values(expert=projection))
    op.drop_index("ix_experts_safeguarding_check_on", table_name="experts")
