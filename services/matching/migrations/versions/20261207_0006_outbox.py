"""the outbox: domain events written with each change, served at GET /v1/events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from mnr_shared.migrations import create_outbox

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox("outbox_events")


def downgrade() -> None:
    op.drop_table("outbox_events")
