"""accounts.balance_seq: bumped with every balance change, so copies of the balance held
elsewhere (the Redis wallet) keep the newest value whatever order updates arrive in.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("balance_seq", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("balance_seq")
