"""Reading PostgreSQL plans in tests: how much work a statement did, counted, not timed."""

from typing import Any


def plan_rows(node: dict[str, Any]) -> float:
    """Rows produced by a node of an `EXPLAIN (ANALYZE, FORMAT JSON)` plan and by its children,
    over all their executions: a plan that loops over what it should look up grows with the
    table (devices x devices, the queue x outcomes), one that looks things up does not."""
    own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
    return own + sum(plan_rows(child) for child in node.get("Plans", []))
