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


# --- bounded rendering: every operation that builds text is refused before it builds -----------

BIG = lead_context(
    "Ali", "+60123456789",
    {"a": "x" * 40_000, "huge": "y" * 1_000_000, "accents": "é" * 11_000, "n": 3},
)
TOO_LONG = f"the message would be longer than {MAX_OUTPUT_CHARS:,} characters"


@pytest.mark.parametrize(
    "template,operation",
    [
        ("{{ a ~ a }}", "~"),
        ("{{ 'x' ~ a ~ 'y' ~ a }}", "~"),
        ("{% if a ~ a %}x{% endif %}", "~"),
        ("{{ a + a }}", "+"),
        ("{{ [a] + [a] }}", "+"),
        ("{{ (a,) + (a,) }}", "+"),
        ("{{ a * 2 }}", "repetition"),
        ("{{ 2 * [a] }}", "repetition"),
        ("{{ '%s%s' % (a, a) }}", "%"),
        ("{{ '%(k)s%(k)s' % {'k': a} }}", "%"),
        ("{{ '%(k(1))s%(k(1))s' % {'k(1)': a} }}", "%"),  # a key with parentheses counts too
        ("{{ '%s%s'|format(a, a) }}", "format"),
        ("{{ [a, a]|join }}", "join"),
        ("{{ ['x', 'y', 'z']|join(a) }}", "join"),
        ("{{ a|replace('x', 'xx') }}", "replace"),
        ("{{ [a, a]|string }}", "string"),
        ("{{ accents|urlencode }}", "urlencode"),  # 11,000 × "%C3%A9"
        ("{{ [a, a] }}", "output"),
        ("{{ {'k': a, 'l': a} }}", "output"),
        ("{{ a }}{{ a }}", "output"),
    ],
)
def test_string_building_operations_are_refused_with_the_reason(
    template: str, operation: str
) -> None:
    with pytest.raises(TemplateProblem) as problem:
        render(template, lead=BIG)
    assert str(problem.value) == f"{TOO_LONG} ({operation})"


@pytest.mark.parametrize(
    "template",
    [
        "{{ huge|list|length }}",
        "{{ huge|sort|first }}",
        "{{ huge|unique|first }}",
        "{{ huge|upper }}",
        "{{ huge|title }}",
        "{{ huge|wordcount }}",
        "{{ huge|join(',') }}",
        "{{ huge.upper() }}",
        "{{ huge.split('x')|length }}",
        "{{ attributes.values()|list|length }}",
    ],
)
def test_building_from_a_value_longer_than_a_message_is_refused(template: str) -> None:
    """Old rows may hold values longer than lead_limits allows today: nothing copies them."""
    with pytest.raises(TemplateProblem, match=f"of a value longer than {MAX_OUTPUT_CHARS:,}"):
        render(template, lead=BIG)


def test_long_values_can_still_be_measured_cut_and_tested() -> None:
    assert render("{{ huge|length }}|{{ huge[:3] }}|{{ huge|truncate(8) }}", lead=BIG) == (
        "1000000|yyy|yyyyy..."
    )
    assert render("{% if huge.startswith('y') %}ok{% endif %}", lead=BIG) == "ok"
    assert len(render("{{ a ~ '!' }}", lead=BIG)) == 40_001
    assert render("{{ '%s-%d'|format(n, n) }} {{ '%(n)s' % {'n': n} }}", lead=BIG) == "3-3 3"


@pytest.mark.parametrize(
    "template",
    [
        "{{ name|center(1000000) }}",
        "{{ name|indent(1000000) }}",
        "{{ name|wordwrap(1) }}",
        "{{ name|batch(1000000)|list }}",
        "{{ name|map('upper')|list }}",
        "{% for i in range(100000000) %}{{ name }}{% endfor %}",
        "{% for i in 'x' * 60000 %}{% for j in 'x' * 60000 %}x{% endfor %}{% endfor %}",
        "{{ '%(k(1))0999999d' % {'k(1)': 1} }}",  # a width hidden behind a key with parentheses
        "{{ (9 ** 3000) * (9 ** 3000) }}",  # each factor is allowed, the product is not
    ],
)
def test_other_amplifiers_do_not_exist_or_are_refused(template: str) -> None:
    with pytest.raises(TemplateProblem):
        render(template)


def test_range_and_lipsum_do_not_exist() -> None:
    # calling a missing name gives a missing value: nothing is built
    assert render("[{{ range(100000000)|list|length }}][{{ lipsum(100000) }}]") == "[0][]"


def test_spintax_options_are_bounded() -> None:
    with pytest.raises(TemplateProblem, match="spintax options"):
        render("{" + "|".join(str(n) for n in range(1_001)) + "}")
    assert render("{" + "|".join(str(n) for n in range(1_000)) + "}").isdigit()


def test_a_spintax_template_is_compiled_once_for_all_seeds(monkeypatch) -> None:
    """20 groups give a million texts: compiling each text would hold one compiled template
    per lead (and take a second per lead for a large template)."""
    from dripfleet import templates

    compiled: list[str] = []
    real = templates._compile
    monkeypatch.setattr(templates, "_compile", lambda source: compiled.append(source) or
                        real(source))
    template = "".join(f"{{a{n}|b{n}}}" for n in range(20)) + " {{ first_name }} (compile once)"
    texts = {render(template, f"seed-{n}") for n in range(50)}
    assert len(texts) == 50 and all(text.endswith(" Aisyah (compile once)") for text in texts)
    assert len(compiled) == 1


def test_spintax_keeps_the_text_around_block_tags() -> None:
    template = "{% if city %}\n{Hi|Hello} {{ city }}\n  {% endif %}\n{a|b}\n"
    assert {render(template, f"s{n}") for n in range(30)} == {
        f"{greeting} Kuala Lumpur\n{letter}\n" for greeting in ("Hi", "Hello") for letter in "ab"
    }
