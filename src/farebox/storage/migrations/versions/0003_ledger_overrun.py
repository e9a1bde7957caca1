"""ledger.overrun_nano: how far a charge went above its request's hold (the backstop, never a
silent cap; docs/billing.md). NULL for every charge within its hold.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("overrun_nano", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("overrun_nano")
