"""matches and policy versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("request_reference", sa.String(length=20), nullable=True),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("expert_name", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "offered",
                "accepted",
                "declined",
                "cancelled",
                "expired",
                "failed",
                name="match_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "step",
            sa.Enum(
                "hold",
                "match_request",
                "confirm",
                "fulfil_request",
                "release",
                "reopen_request",
                name="saga_step",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "target_status",
            sa.Enum(
                "pending",
                "offered",
                "accepted",
                "declined",
                "cancelled",
                "expired",
                "failed",
                name="match_target_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index("ix_matches_expert_id_created_at", ["expert_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_status"), ["status"], unique=False)
        batch_op.create_index("ix_matches_step_next_attempt_at", ["step", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "uq_matches_live_request",
            ["request_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'offered', 'accepted')"),
            postgresql_where=sa.text("status IN ('pending', 'offered', 'accepted')"),
        )

    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("expertise", sa.Float(), nullable=False),
        sa.Column("language", sa.Float(), nullable=False),
        sa.Column("region", sa.Float(), nullable=False),
        sa.Column("availability", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policy_versions")),
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matches_live_request",
            sqlite_where=sa.text("status IN ('pending', 'offered', 'accepted')"),
            postgresql_where=sa.text("status IN ('pending', 'offered', 'accepted')"),
        )
        batch_op.drop_index("ix_matches_step_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_matches_status"))
        batch_op.drop_index(batch_op.f("ix_matches_request_id"))
        batch_op.drop_index("ix_matches_expert_id_created_at")

    op.drop_table("matches")
