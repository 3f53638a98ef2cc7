"""Message templates: seeded spintax `{Hi|Hello}`, then a restricted, sandboxed Jinja2 render."""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_eval_context,
)
from jinja2 import filters as jinja_filters
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

__all__ = [
    "MAX_OUTPUT_CHARS",
    "MAX_TEMPLATE_CHARS",
    "RESERVED_VARIABLES",
    "TemplateProblem",
    "check_template",
    "lead_context",
    "render_message",
]

# Syntax, in order of processing:
#   1. Spintax: `{a|b|c}` (single braces with at least one `|`, nestable) is resolved first; each
#      group picks an option from a hash of (seed, group number), so one seed always gives the
#      same text. `{{ ... }}`, `{% ... %}` and `{# ... #}` are Jinja and never spintax, nor is the
#      body of `{% raw %}...{% endraw %}` (the way to write a literal `{a|b}`). `{word}` without
#      `|` stays literal text.
#   2. Jinja2 in an immutable sandbox, plain text (no autoescape), trim_blocks + lstrip_blocks.
#      Only `{{ expression }}` and `{% if %}/{% elif %}/{% else %}` are allowed: no for, set,
#      macro, include, ... so a template cannot loop, recurse or build values step by step. Calls
#      are limited to harmless str/dict methods, filters to a short list, `*` `**` `%` and the join,
#      replace and format filters are checked so they cannot blow up; output is capped.
#   Missing variables (and None values) render as "".

MAX_TEMPLATE_CHARS = 65_536
MAX_OUTPUT_CHARS = 65_536
RESERVED_VARIABLES = ("name", "phone", "first_name", "attributes")

_MAX_SPINTAX_DEPTH = 20
_MAX_INT_BITS = 10_000
_MAX_FIELD_WIDTH = 1_000

_SPINTAX_SPECIAL = re.compile(r"[{|}]")
_RAW_START = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NOT_IDENTIFIER = re.compile(r"\W+")

_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.CondExpr,
    nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Slice,
    nodes.Filter, nodes.Test, nodes.Call, nodes.Keyword,
    nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
    nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow,
    nodes.Concat, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair,
)  # fmt: skip
_STATEMENT_NAMES = {
    nodes.For: "{% for %}",
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.With: "{% with %}",
    nodes.Block: "{% block %}",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}
_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "first", "float", "format", "int", "join",
    "last", "length", "list", "lower", "max", "min", "replace", "reverse", "round", "sort",
    "string", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
)  # fmt: skip
_STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition",
    "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})  # fmt: skip
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})


class TemplateProblem(ValueError):
    """A template that cannot be parsed or rendered; str() is a message for the author."""


@dataclass(frozen=True)
class _Group:
    """One spintax group: its number in the template and its options (each a part sequence)."""

    number: int
    options: tuple[tuple["str | _Group", ...], ...]


_Parts = tuple["str | _Group", ...]


def render_message(template: str, lead: Mapping[str, Any], seed: str) -> str:
    """Render `template` for `lead` (see lead_context); same seed, same text; TemplateProblem."""
    try:
        source = _resolve(_parse_spintax(template), str(seed))
        compiled = _compile(source)
        context = _context_from(lead)
        chunks: list[str] = []
        size = 0
        stream = compiled.generate(context)
        try:
            for chunk in stream:
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateProblem(
                        f"the message is longer than {MAX_OUTPUT_CHARS:,} characters"
                    )
                chunks.append(chunk)
        finally:
            stream.close()
        return "".join(chunks)
    except Exception as exc:  # the contract: TemplateProblem and nothing else
        raise _problem(exc) from None


def check_template(template: str) -> str | None:
    """Return why `template` is unusable (every spintax choice is checked), or None if fine."""
    try:
        _check_parts(_parse_spintax(template), "")
    except Exception as exc:
        return str(_problem(exc))
    return None


def lead_context(
    name: str | None, phone: str | None, attributes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build template variables: attributes, then name, phone, first_name, attributes (reserved)."""
    attributes = dict(attributes or {})
    context: dict[str, Any] = {}
    for key, value in attributes.items():
        key = str(key)
        if key not in RESERVED_VARIABLES:
            context[key] = value
    # "Company Name" is also reachable as {{ company_name }} when that name is free.
    for key, value in attributes.items():
        alias = _NOT_IDENTIFIER.sub("_", str(key).strip()).strip("_").lower()
        if alias and not alias[0].isdigit() and alias not in RESERVED_VARIABLES:
            context.setdefault(alias, value)
    full_name = "" if name is None else " ".join(str(name).split())
    context["name"] = full_name
    context["phone"] = "" if phone is None else str(phone)
    context["first_name"] = full_name.split(" ", 1)[0]
    context["attributes"] = attributes
    return context


# --- spintax -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _parse_spintax(template: str) -> _Parts:
    if not isinstance(template, str):
        raise TemplateProblem("the template must be text")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters")
    root: list[str | _Group] = []
    # Open groups, innermost last: (number, options so far, the sequence the group belongs to).
    stack: list[tuple[int, list[list[str | _Group]], list[str | _Group], int]] = []
    current = root
    numbers = 0
    position = 0
    while True:
        match = _SPINTAX_SPECIAL.search(template, position)
        if match is None:
            _append_text(current, template[position:])
            break
        at = match.start()
        char = template[at]
        if char == "{" and template[at + 1 : at + 2] in ("{", "%", "#"):
            end = _jinja_end(template, at)
            _append_text(current, template[position:end])
            position = end
            continue
        if char != "{" and not stack:
            _append_text(current, template[position : at + 1])
            position = at + 1
            continue
        _append_text(current, template[position:at])
        position = at + 1
        if char == "{":
            if len(stack) >= _MAX_SPINTAX_DEPTH:
                raise TemplateProblem(f"spintax nested more than {_MAX_SPINTAX_DEPTH} deep")
            options: list[list[str | _Group]] = [[]]
            stack.append((numbers, options, current, at))
            numbers += 1
            current = options[0]
        elif char == "|":
            stack[-1][1].append([])
            current = stack[-1][1][-1]
        else:  # "}" closes the innermost group
            number, options, parent, _ = stack.pop()
            _close_group(parent, number, options)
            current = parent
    while stack:  # unclosed groups: literal text if they have no "|", else an error
        number, options, parent, start = stack.pop()
        if len(options) > 1:
            raise TemplateProblem(
                f"spintax group opened at character {start + 1} is never closed with '}}'"
            )
        _append_text(parent, "{")
        for part in options[0]:
            _append_part(parent, part)
    return tuple(root)


def _close_group(parent: list, number: int, options: list[list]) -> None:
    if len(options) == 1:  # "{word}": not spintax, keep the braces
        _append_text(parent, "{")
        for part in options[0]:
            _append_part(parent, part)
        _append_text(parent, "}")
    else:
        parent.append(_Group(number, tuple(tuple(option) for option in options)))


def _append_part(parts: list, part: "str | _Group") -> None:
    if isinstance(part, str):
        _append_text(parts, part)
    else:
        parts.append(part)


def _append_text(parts: list, text: str) -> None:
    if not text:
        return
    if parts and isinstance(parts[-1], str):
        parts[-1] += text
    else:
        parts.append(text)


def _jinja_end(text: str, start: int) -> int:
    """Index just past the Jinja tag (or raw block) starting at `start`; len(text) if unclosed."""
    kind = text[start + 1]
    if kind == "#":
        end = text.find("#}", start + 2)
        return len(text) if end < 0 else end + 2
    if kind == "%" and (raw := _RAW_START.match(text, start)):
        end_match = _RAW_END.search(text, raw.end())
        return len(text) if end_match is None else end_match.end()
    closer = "}}" if kind == "{" else "%}"
    depth = 0
    quote = ""
    index = start + 2
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif depth == 0 and text.startswith(closer, index):
            return index + 2
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth = max(depth - 1, 0)
        index += 1
    return len(text)


def _resolve(parts: _Parts, seed: str) -> str:
    out: list[str] = []

    def walk(sequence: _Parts) -> None:
        for part in sequence:
            if isinstance(part, str):
                out.append(part)
            else:
                walk(part.options[_choose(seed, part.number, len(part.options))])

    walk(parts)
    return "".join(out)


def _choose(seed: str, number: int, count: int) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def _check_parts(parts: _Parts, where: str) -> None:
    """Check the text around the groups, then every option of every group, on its own."""
    skeleton = "".join(part for part in parts if isinstance(part, str))
    try:
        _compile(skeleton)
    except Exception as exc:
        raise TemplateProblem(f"{where}{_problem(exc)}") from None
    for part in parts:
        if isinstance(part, _Group):
            for option in part.options:
                text = _option_text(option)
                shown = text if len(text) <= 40 else text[:37] + "..."
                _check_parts(option, f"in spintax option {shown!r}: ")


def _option_text(parts: _Parts) -> str:
    return "".join(
        part if isinstance(part, str) else "{" + "|".join(map(_option_text, part.options)) + "}"
        for part in parts
    )


# --- Jinja ---------------------------------------------------------------------------------------


class _MessageSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with calls, operators and unsafe attribute access narrowed further."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object")

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj  # calling a missing value gives a missing value, rendered as ""
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", type(obj).__name__)
        if not (
            (isinstance(owner, str) and name in _STR_METHODS)
            or (isinstance(owner, dict) and name in _DICT_METHODS)
        ):
            raise SecurityError(f"calling {name!r} is not allowed in message templates")
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)


def _check_repeat(sequence: Any, times: Any) -> None:
    if (
        isinstance(sequence, str | list | tuple)
        and isinstance(times, int)
        and times > 0
        and _weight(sequence, MAX_OUTPUT_CHARS // times + 1) * times > MAX_OUTPUT_CHARS
    ):
        raise SecurityError(f"repetition longer than {MAX_OUTPUT_CHARS:,} characters")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and max(abs(base).bit_length(), 1) * exponent > _MAX_INT_BITS
    ):
        raise SecurityError("number too large")


def _check_percent_format(text: str) -> None:
    for match in _PERCENT_SPEC.finditer(text):
        for value in match.groups():
            if value == "*" or (value and (len(value) > 6 or int(value) > _MAX_FIELD_WIDTH)):
                raise SecurityError(f"format widths above {_MAX_FIELD_WIDTH} are not allowed")


def _weight(value: Any, limit: int) -> int:
    """Rough printed size of `value`, counting no further than just past `limit`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, list | tuple | set | frozenset):
        total = 2
        for item in value:
            total += _weight(item, limit - total) + 2
            if total > limit:
                break
        return total
    return 8


@pass_eval_context
def _safe_join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    if len(str(d)) * max(len(items) - 1, 0) + _weight(items, MAX_OUTPUT_CHARS) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"join longer than {MAX_OUTPUT_CHARS:,} characters")
    return jinja_filters.do_join(eval_ctx, items, d, attribute)


@pass_eval_context
def _safe_replace(
    eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None
) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    hits = len(text) + 1 if not old_text else text.count(old_text)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new_text) - len(old_text)) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"replace result longer than {MAX_OUTPUT_CHARS:,} characters")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


def _safe_format(value: Any, *args: Any, **kwargs: Any) -> str:
    if isinstance(value, str):
        _check_percent_format(value)
    return jinja_filters.do_format(value, *args, **kwargs)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _make_environment() -> _MessageSandbox:
    environment = _MessageSandbox(
        autoescape=False,
        undefined=ChainableUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    filters = {name: environment.filters[name] for name in _FILTERS}
    filters.update(join=_safe_join, replace=_safe_replace, format=_safe_format)
    environment.filters = filters
    environment.globals.clear()  # no range, lipsum, cycler, namespace, ...
    return environment


_ENVIRONMENT = _make_environment()


@lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    tree = _ENVIRONMENT.parse(source)
    for node in _walk(tree):
        if isinstance(node, nodes.Name) and node.name == "self":  # Jinja's template reference
            raise TemplateProblem(f"line {node.lineno}: 'self' is not available in templates")
        if not isinstance(node, _ALLOWED_NODES):
            what = _STATEMENT_NAMES.get(type(node), type(node).__name__)
            line = getattr(node, "lineno", None)
            where = f"line {line}: " if line else ""
            raise TemplateProblem(
                f"{where}{what} is not allowed in message templates "
                "(use {{ variables }}, filters and {% if %})"
            )
    return _ENVIRONMENT.from_string(tree)


def _walk(node: nodes.Node) -> Any:
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(current.iter_child_nodes())


def _context_from(lead: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(lead, Mapping):
        raise TemplateProblem("the lead must be a mapping of template variables")
    attributes = lead.get("attributes")
    merged = dict(attributes) if isinstance(attributes, Mapping) else {}
    merged.update((key, value) for key, value in lead.items() if key not in RESERVED_VARIABLES)
    return lead_context(lead.get("name"), lead.get("phone"), merged)


def _problem(exc: BaseException) -> TemplateProblem:
    if isinstance(exc, TemplateProblem):
        return exc
    if isinstance(exc, TemplateSyntaxError):
        line = f" on line {exc.lineno}" if exc.lineno else ""
        return TemplateProblem(f"syntax error{line}: {exc.message}")
    if isinstance(exc, SecurityError):
        return TemplateProblem(f"not allowed: {exc}")
    if isinstance(exc, UndefinedError):
        return TemplateProblem(f"undefined value: {exc}")
    if isinstance(exc, RecursionError):
        return TemplateProblem("the template is nested too deeply")
    return TemplateProblem(f"rendering failed: {type(exc).__name__}: {exc}")
