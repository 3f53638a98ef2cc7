"""Message templates: variables, seeded spintax, sandbox and limits."""

import pytest

from dripfleet.templates import (
    MAX_OUTPUT_CHARS,
    TemplateProblem,
    check_template,
    lead_context,
    render_message,
)

LEAD = lead_context(
    "Aisyah  binti Omar", "+60123456789", {"city": "Kuala Lumpur", "Company Name": "Acme"}
)


def render(template: str, seed: str = "seed", lead: dict | None = None) -> str:
    return render_message(template, LEAD if lead is None else lead, seed)


def test_variables() -> None:
    assert render("Hi {{ first_name }} ({{ name }}, {{ phone }})") == (
        "Hi Aisyah (Aisyah binti Omar, +60123456789)"
    )


def test_attributes_are_variables() -> None:
    assert render("{{ city }} / {{ company_name }} / {{ attributes['Company Name'] }}") == (
        "Kuala Lumpur / Acme / Acme"
    )


def test_attributes_do_not_override_name_or_phone() -> None:
    context = lead_context("Ali", "+60123456789", {"name": "X", "phone": "Y", "first_name": "Z"})
    assert render_message("{{ name }} {{ phone }} {{ first_name }}", context, "s") == (
        "Ali +60123456789 Ali"
    )


def test_a_plain_lead_row_works_too() -> None:
    row = {"name": "Siti Nur", "phone": "+60111111111", "attributes": {"plan": "gold"}}
    assert render_message("{{ first_name }}: {{ plan }}", row, "s") == "Siti: gold"


def test_missing_variables_and_none_render_empty() -> None:
    context = lead_context(None, None, {"nothing": None})
    assert render_message("[{{ missing }}][{{ missing.deeper }}][{{ nothing }}]", context, "s") == (
        "[][][]"
    )
    assert render_message("[{{ name }}][{{ first_name }}][{{ phone }}]", context, "s") == "[][][]"


def test_spintax_is_deterministic_per_seed() -> None:
    template = "{Hi|Hello|Hey} {{ first_name }}, {great|nice} to meet you"
    for seed in ("a", "b", "queue:42:step:3"):
        assert render(template, seed) == render(template, seed)


def test_spintax_varies_across_seeds() -> None:
    seen = {render("{Hi|Hello|Hey}", f"dedupe-{n}") for n in range(50)}
    assert seen == {"Hi", "Hello", "Hey"}


def test_nested_spintax() -> None:
    seen = {render("{a|{b|c}}!", f"s{n}") for n in range(60)}
    assert seen == {"a!", "b!", "c!"}
    deep = {render("{x{1|2}|y{3|{4|5}}}", f"s{n}") for n in range(200)}
    assert deep == {"x1", "x2", "y3", "y4", "y5"}


def test_spintax_may_contain_jinja() -> None:
    seen = {render("{Hi {{ first_name }}|Hello {{ name|upper }}}", f"s{n}") for n in range(40)}
    assert seen == {"Hi Aisyah", "Hello AISYAH BINTI OMAR"}


def test_jinja_filters_and_tags_are_not_spintax() -> None:
    template = (
        "{{ name|upper }}|{{ city|default('x')|lower }}"
        "{% if city|length > 3 %} in {{ city|title }}{% else %} nowhere{% endif %}"
    )
    assert render(template) == "AISYAH BINTI OMAR|kuala lumpur in Kuala Lumpur"
    assert render("{{ {'a': {'b': 1}}['a']['b'] }}{% if 1|abs %}|ok{% endif %}") == "1|ok"


def test_braces_without_pipe_and_stray_characters_stay_literal() -> None:
    assert render("{code} a | b } {") == "{code} a | b } {"


def test_raw_block_escapes_spintax() -> None:
    assert render("{% raw %}{a|b} {{ x }}{% endraw %}") == "{a|b} {{ x }}"


def test_syntax_error_is_a_template_problem() -> None:
    for bad in ("Hi {{ name", "{% if x %}no end", "{{ name|nosuchfilter }}", "{{ }}"):
        with pytest.raises(TemplateProblem):
            render(bad)
        assert check_template(bad)


def test_unclosed_spintax_is_a_problem() -> None:
    with pytest.raises(TemplateProblem, match="never closed"):
        render("{Hi|Hello there")
    assert "never closed" in (check_template("{Hi|Hello there") or "")


def test_check_template() -> None:
    good = "{Hi|Hello} {{ first_name|title }}{% if city %}, {{ city }}{% endif %}"
    assert check_template(good) is None
    # Every spintax option is checked, not only the one a given seed would pick.
    problem = check_template("{fine|{% if x %}broken}")
    assert problem is not None and "spintax option" in problem


def test_sandbox_blocks_attribute_escapes() -> None:
    for evil in (
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__.__init__.__globals__ }}",
        "{{ name.format.__self__ }}",
        "{{ self }}",
        "{{ name.center(100000) }}",
    ):
        try:
            out = render(evil)
        except TemplateProblem:
            continue
        assert "class" not in out and "object" not in out, (evil, out)


def test_loops_and_assignments_are_not_allowed() -> None:
    for template in (
        "{% for i in range(10) %}x{% endfor %}",
        "{% set a = name ~ name %}{{ a }}",
        "{% macro m() %}x{% endmacro %}",
        "{% include 'other' %}",
    ):
        with pytest.raises(TemplateProblem, match="not allowed"):
            render(template)
        assert check_template(template)


def test_output_is_capped() -> None:
    long_lead = lead_context("x" * 40_000, "+60123456789", {})
    with pytest.raises(TemplateProblem, match="longer than"):
        render_message("{{ name }} {{ name }}", long_lead, "s")
    assert len(render_message("{{ name }}", long_lead, "s")) == 40_000
    with pytest.raises(TemplateProblem, match="repetition"):
        render(f"{{{{ 'x' * {MAX_OUTPUT_CHARS + 1} }}}}")


@pytest.mark.parametrize(
    "template",
    [
        "{{ 9 ** 999999 }}",
        "{{ '%0999999d' % 1 }}",
        "{{ '%*d'|format(999999, 1) }}",
        "{{ name|replace('', 'y' * 10000) }}",
        "{{ (name|list)|join('y' * 10000) }}",
        "{{ [name] * 10000 }}",
    ],
)
def test_amplification_is_refused(template: str) -> None:
    with pytest.raises(TemplateProblem):
        render(template)


def test_runtime_errors_become_template_problems() -> None:
    with pytest.raises(TemplateProblem):
        render("{{ 1 / 0 }}")
    with pytest.raises(TemplateProblem):
        render("{{ missing + 1 }}")
    with pytest.raises(TemplateProblem):
        render_message("{{ name }}", None, "s")  # type: ignore[arg-type]
    with pytest.raises(TemplateProblem):
        render_message(None, LEAD, "s")  # type: ignore[arg-type]


def test_template_length_is_capped() -> None:
    with pytest.raises(TemplateProblem):
        render("x" * 70_000)
    assert check_template("x" * 70_000)


def test_lead_context() -> None:
    context = lead_context("  Tan   Mei Ling ", "+60123456789", {"Plan Type": "gold", "x": 1})
    assert context["name"] == "Tan Mei Ling"
    assert context["first_name"] == "Tan"
    assert context["plan_type"] == context["Plan Type"] == "gold"
    assert context["x"] == 1
    assert context["attributes"] == {"Plan Type": "gold", "x": 1}
