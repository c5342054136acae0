"""The person behind each disclosure proposal, decision and delivery, not only the account

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

An API token acts as its own system account; separation of duties must compare the people behind
the accounts. Existing rows are filled in: a person's own account is that person; a token's
account is the admin who issued it (nobody, for a token issued at the command line). A second
decision on one disclosure that would fall to the same person is left without one rather than
break the new one-decision-per-person index.

The columns carry no foreign key (as ``delivered_by_user_id``): SQLite adds and drops plain
columns in place, but would have to rebuild ``disclosures`` for a constraint, which the decisions
referencing it refuse while foreign keys are enforced.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("disclosures", sa.Column("proposer_person_id", sa.Integer(), nullable=True))
    op.add_column("disclosures", sa.Column("delivered_by_person_id", sa.Integer(), nullable=True))
    op.add_column(
        "disclosure_decisions", sa.Column("approver_person_id", sa.Integer(), nullable=True)
    )
    _fill_in_people()
    op.create_index(
        "ix_disclosure_decisions_person",
        "disclosure_decisions",
        ["disclosure_id", "approver_person_id"],
        unique=True,
    )


def _fill_in_people() -> None:
    bind = op.get_bind()
    issuers: dict[int | None, int | None] = dict(
        bind.execute(sa.text("SELECT user_id, created_by_user_id FROM api_tokens")).all()
    )

    def person(account: int | None) -> int | None:
        return issuers.get(account, account)

    disclosures = bind.execute(
        sa.text("SELECT id, proposer_user_id, delivered_by_user_id FROM disclosures")
    )
    for disclosure_id, proposer, deliverer in disclosures.all():
        bind.execute(
            sa.text(
                "UPDATE disclosures SET proposer_person_id = :proposer, "
                "delivered_by_person_id = :deliverer WHERE id = :id"
            ),
            {"proposer": person(proposer), "deliverer": person(deliverer), "id": disclosure_id},
        )
    taken: set[tuple[int, int]] = set()
    decisions = bind.execute(
        sa.text(
            "SELECT id, disclosure_id, approver_user_id FROM disclosure_decisions "
            "ORDER BY decided_at, id"
        )
    )
    for decision_id, disclosure_id, approver in decisions.all():
        who = person(approver)
        if who is None or (disclosure_id, who) in taken:
            continue
        taken.add((disclosure_id, who))
        bind.execute(
            sa.text("UPDATE disclosure_decisions SET approver_person_id = :who WHERE id = :id"),
            {"who": who, "id": decision_id},
        )


def downgrade() -> None:
    op.drop_index("ix_disclosure_decisions_person", table_name="disclosure_decisions")
    op.drop_column("disclosure_decisions", "approver_person_id")
    op.drop_column("disclosures", "delivered_by_person_id")
    op.drop_column("disclosures", "proposer_person_id")
