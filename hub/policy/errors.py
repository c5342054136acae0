"""Refusals by policy, carrying the decision so the edge can show every test and its outcome."""

from __future__ import annotations

from hub.errors import Forbidden
from hub.policy.model import Decision


class PolicyRefused(Forbidden):
    code = "policy_denied"

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message(), outcome=decision.outcome.value)
        self.decision = decision


class ApprovalRequired(PolicyRefused):
    """REVIEW: lawful in principle, but not to be sent until the named approvers agree."""

    code = "approval_required"
