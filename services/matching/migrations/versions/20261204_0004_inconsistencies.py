"""inconsistencies: what the reconciler found between matches, bookings and requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "inconsistencies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "orphan_hold",
                "offer_hold_lost",
                "matched_no_match",
                "fulfilled_no_match",
                "accepted_no_booking",
                "confirmed_abandoned",
                "stuck_step",
                name="inconsistency_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "repaired",
                "resolved",
                name="inconsistency_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=36), nullable=False),
        sa.Column("match_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("expert_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("repair", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inconsistencies")),
    )
    with op.batch_alter_table("inconsistencies", schema=None) as batch_op:
        batch_op.create_index("ix_inconsistencies_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inconsistencies_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_inconsistencies_open_subject",
            ["kind", "subject"],
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )


def downgrade() -> None:
    with op.batch_alter_table("inconsistencies", schema=None) as batch_op:
        batch_op.drop_index("uq_inconsistencies_open_subject", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index(batch_op.f("ix_inconsistencies_status"))
        batch_op.drop_index("ix_inconsistencies_created_at_id")
    op.drop_table("inconsistencies")
