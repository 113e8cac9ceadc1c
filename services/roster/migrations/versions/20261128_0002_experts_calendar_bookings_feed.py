"""experts, expertise, languages, countries, calendar, bookings, change feed, audit

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
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_sub", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("changed_fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index("ix_audit_expert_id_id", "audit", ["expert_id", "id"], unique=False)
    op.create_table(
        "changes",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("expert", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changes")),
    )
    op.create_index(op.f("ix_changes_expert_id"), "changes", ["expert_id"], unique=False)
    op.create_table(
        "experts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("nationalities", sa.JSON(), nullable=False),
        sa.Column("residence_country", sa.String(length=3), nullable=True),
        sa.Column("gender", sa.String(length=40), nullable=True),
        sa.Column("summary", sa.String(length=4000), nullable=True),
        sa.Column("years_experience", sa.Integer(), nullable=True),
        sa.Column("daily_rate_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("daily_rate_currency", sa.String(length=3), nullable=True),
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
        sa.Column(
            "status",
            sa.Enum(
                "applicant",
                "active",
                "inactive",
                "suspended",
                name="expert_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("references_checked_on", sa.Date(), nullable=True),
        sa.Column("safeguarding_check_on", sa.Date(), nullable=True),
        sa.Column("bsafe_completed_on", sa.Date(), nullable=True),
        sa.Column("owner_sub", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "daily_rate_amount IS NULL OR daily_rate_amount >= 0", name=op.f("ck_experts_rate")
        ),
        sa.CheckConstraint(
            "years_experience IS NULL OR years_experience >= 0", name=op.f("ck_experts_years")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts")),
        sa.UniqueConstraint("email", name=op.f("uq_experts_email")),
        sa.UniqueConstraint("owner_sub", name=op.f("uq_experts_owner_sub")),
    )
    op.create_index("ix_experts_created_at_id", "experts", ["created_at", "id"], unique=False)
    op.create_index(op.f("ix_experts_status"), "experts", ["status"], unique=False)
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "hold",
                "confirmed",
                "released",
                name="booking_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("match_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("start_date <= end_date", name=op.f("ck_bookings_ordered")),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], name=op.f("fk_bookings_expert_id_experts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("match_id", name=op.f("uq_bookings_match_id")),
    )
    op.create_index("ix_bookings_expert_id_start_date", "bookings", ["expert_id", "start_date"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The database refuses two live bookings of one expert over overlapping days; on SQLite
        # the service's serialised (BEGIN IMMEDIATE) transaction does the same job.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
            "(expert_id WITH =, daterange(start_date, end_date, '[]') WITH &&) "
            "WHERE (status IN ('hold', 'confirmed'))"
        )
    op.create_table(
        "expert_capabilities",
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("capability", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.CheckConstraint("capability BETWEEN 1 AND 21", name=op.f("ck_expert_capabilities_capability")),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name=op.f("ck_expert_capabilities_level")),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["experts.id"],
            name=op.f("fk_expert_capabilities_expert_id_experts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("expert_id", "capability", name=op.f("pk_expert_capabilities")),
    )
    op.create_index(
        "ix_expert_capabilities_capability_level",
        "expert_capabilities",
        ["capability", "level"],
        unique=False,
    )
    op.create_table(
        "expert_countries",
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("iso3", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["experts.id"],
            name=op.f("fk_expert_countries_expert_id_experts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("expert_id", "iso3", name=op.f("pk_expert_countries")),
    )
    op.create_index("ix_expert_countries_iso3", "expert_countries", ["iso3"], unique=False)
    op.create_index("ix_expert_countries_region", "expert_countries", ["region"], unique=False)
    op.create_table(
        "expert_languages",
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=35), nullable=False),
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("level_rank", sa.Integer(), nullable=False),
        sa.CheckConstraint("level_rank BETWEEN 1 AND 6", name=op.f("ck_expert_languages_level_rank")),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["experts.id"],
            name=op.f("fk_expert_languages_expert_id_experts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("expert_id", "tag", name=op.f("pk_expert_languages")),
    )
    op.create_index(
        "ix_expert_languages_tag_level_rank", "expert_languages", ["tag", "level_rank"], unique=False
    )
    op.create_table(
        "unavailability",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("start_date <= end_date", name=op.f("ck_unavailability_ordered")),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["experts.id"],
            name=op.f("fk_unavailability_expert_id_experts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unavailability")),
    )
    op.create_index(
        "ix_unavailability_expert_id_start_date", "unavailability", ["expert_id", "start_date"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_unavailability_expert_id_start_date", table_name="unavailability")
    op.drop_table("unavailability")
    op.drop_index("ix_expert_languages_tag_level_rank", table_name="expert_languages")
    op.drop_table("expert_languages")
    op.drop_index("ix_expert_countries_region", table_name="expert_countries")
    op.drop_index("ix_expert_countries_iso3", table_name="expert_countries")
    op.drop_table("expert_countries")
    op.drop_index("ix_expert_capabilities_capability_level", table_name="expert_capabilities")
    op.drop_table("expert_capabilities")
    op.drop_index("ix_bookings_expert_id_start_date", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index(op.f("ix_experts_status"), table_name="experts")
    op.drop_index("ix_experts_created_at_id", table_name="experts")
    op.drop_table("experts")
    op.drop_index(op.f("ix_changes_expert_id"), table_name="changes")
    op.drop_table("changes")
    op.drop_index("ix_audit_expert_id_id", table_name="audit")
    op.drop_table("audit")
