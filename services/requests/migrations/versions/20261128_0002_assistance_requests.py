"""assistance requests: their capability and language needs, history, comments, reference counters

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
        "assistance_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=10), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "modality",
            sa.Enum(
                "remote",
                "in_country",
                "either",
                name="modality",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("effort_days", sa.Integer(), nullable=False),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "normal",
                "high",
                "urgent",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "nationality_preference",
            sa.Enum(
                "any",
                "national",
                "international",
                name="nationality_preference",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "in_review",
                "matched",
                "fulfilled",
                "closed",
                "withdrawn",
                "rejected",
                "cancelled",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("effort_days >= 1", name=op.f("ck_assistance_requests_effort_days")),
        sa.CheckConstraint("start_date <= end_date", name=op.f("ck_assistance_requests_window")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_assistance_requests_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistance_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_assistance_requests_reference")),
    )
    op.create_index(op.f("ix_assistance_requests_country"), "assistance_requests", ["country"], unique=False)
    op.create_index(
        op.f("ix_assistance_requests_created_at_id"),
        "assistance_requests",
        ["created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_assistance_requests_priority"), "assistance_requests", ["priority"], unique=False
    )
    op.create_index(op.f("ix_assistance_requests_region"), "assistance_requests", ["region"], unique=False)
    op.create_index(op.f("ix_assistance_requests_status"), "assistance_requests", ["status"], unique=False)

    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_reference_counters")),
    )
    op.create_table(
        "request_capabilities",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("capability", sa.Integer(), nullable=False),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.Column(
            "importance",
            sa.Enum(
                "required", "desired", name="importance", native_enum=False, create_constraint=True, length=20
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("capability BETWEEN 1 AND 21", name=op.f("ck_request_capabilities_capability")),
        sa.CheckConstraint("min_level BETWEEN 1 AND 4", name=op.f("ck_request_capabilities_min_level")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assistance_requests.id"],
            name=op.f("fk_request_capabilities_request_id_assistance_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "capability", name=op.f("pk_request_capabilities")),
    )
    op.create_index(
        op.f("ix_request_capabilities_capability"), "request_capabilities", ["capability"], unique=False
    )

    op.create_table(
        "request_comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("author_sub", sa.String(length=200), nullable=False),
        sa.Column(
            "author_role",
            sa.Enum(
                "country_office",
                "programme_division",
                "admin",
                "service",
                name="author_role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assistance_requests.id"],
            name=op.f("fk_request_comments_request_id_assistance_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_comments")),
    )
    op.create_index(
        op.f("ix_request_comments_request_id_created_at_id"),
        "request_comments",
        ["request_id", "created_at", "id"],
        unique=False,
    )

    op.create_table(
        "request_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_sub", sa.String(length=200), nullable=False),
        sa.Column(
            "actor_role",
            sa.Enum(
                "country_office",
                "programme_division",
                "admin",
                "service",
                name="actor_role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "created",
                "edited",
                "transition",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "action",
            sa.Enum(
                "submit",
                "withdraw",
                "start_review",
                "reject",
                "match",
                "fulfil",
                "close",
                "cancel",
                "reopen",
                name="action",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "from_status",
            sa.Enum(
                "draft",
                "submitted",
                "in_review",
                "matched",
                "fulfilled",
                "closed",
                "withdrawn",
                "rejected",
                "cancelled",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "draft",
                "submitted",
                "in_review",
                "matched",
                "fulfilled",
                "closed",
                "withdrawn",
                "rejected",
                "cancelled",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_fields", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assistance_requests.id"],
            name=op.f("fk_request_history_request_id_assistance_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_history")),
    )
    op.create_index(
        op.f("ix_request_history_request_id_id"), "request_history", ["request_id", "id"], unique=False
    )

    op.create_table(
        "request_languages",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=35), nullable=False),
        sa.Column(
            "min_level",
            sa.Enum(
                "A1",
                "A2",
                "B1",
                "B2",
                "C1",
                "C2",
                name="min_level",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "importance",
            sa.Enum(
                "required", "desired", name="importance", native_enum=False, create_constraint=True, length=20
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assistance_requests.id"],
            name=op.f("fk_request_languages_request_id_assistance_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "tag", name=op.f("pk_request_languages")),
    )


def downgrade() -> None:
    op.drop_table("request_languages")
    op.drop_index(op.f("ix_request_history_request_id_id"), table_name="request_history")
    op.drop_table("request_history")
    op.drop_index(op.f("ix_request_comments_request_id_created_at_id"), table_name="request_comments")
    op.drop_table("request_comments")
    op.drop_index(op.f("ix_request_capabilities_capability"), table_name="request_capabilities")
    op.drop_table("request_capabilities")
    op.drop_table("reference_counters")
    op.drop_index(op.f("ix_assistance_requests_status"), table_name="assistance_requests")
    op.drop_index(op.f("ix_assistance_requests_region"), table_name="assistance_requests")
    op.drop_index(op.f("ix_assistance_requests_priority"), table_name="assistance_requests")
    op.drop_index(op.f("ix_assistance_requests_created_at_id"), table_name="assistance_requests")
    op.drop_index(op.f("ix_assistance_requests_country"), table_name="assistance_requests")
    op.drop_table("assistance_requests")
