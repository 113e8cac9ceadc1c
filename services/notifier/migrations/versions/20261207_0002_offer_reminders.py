"""email jobs: what they are about (so an answer can call off a reminder); one per message

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_jobs") as batch:
        batch.add_column(sa.Column("about", sa.String(length=64), nullable=False, server_default=""))
        batch.drop_constraint("uq_email_jobs_event_id_audience", type_="unique")
        batch.create_unique_constraint(
            "uq_email_jobs_event_id_trigger_audience", ["event_id", "trigger", "audience"]
        )
    with op.batch_alter_table("email_jobs") as batch:
        batch.alter_column("about", server_default=None)
    op.create_index("ix_email_jobs_about", "email_jobs", ["about"])


def downgrade() -> None:
    op.drop_index("ix_email_jobs_about", table_name="email_jobs")
    with op.batch_alter_table("email_jobs") as batch:
        batch.drop_constraint("uq_email_jobs_event_id_trigger_audience", type_="unique")
        batch.create_unique_constraint("uq_email_jobs_event_id_audience", ["event_id", "audience"])
        batch.drop_column("about")
