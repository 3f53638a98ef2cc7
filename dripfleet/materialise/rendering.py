"""Rendering one batch of messages: a template problem on one message never fails the batch."""

from collections.abc import Mapping
from typing import Any

from dripfleet.templates import MAX_OUTPUT_CHARS, TemplateProblem, render_message


def render_or_problem(
    template: str | None, name: str | None, phone: str, attributes: Mapping[str, Any] | None,
    seed: str,
) -> tuple[str | None, str | None]:
    """(rendered text, None) or (None, the problem); None/empty templates stay as they are."""
    if not template:
        return template, None
    if "{" not in template and "\r" not in template and len(template) <= MAX_OUTPUT_CHARS:
        # nothing for spintax or Jinja to do: render_message would return the text unchanged
        # (a longer text, from before templates were checked, is refused there with the reason)
        return template, None
    lead = {"name": name, "phone": phone, "attributes": attributes or {}}
    try:
        return render_message(template, lead, seed=seed), None
    except TemplateProblem as problem:
        return None, str(problem)
