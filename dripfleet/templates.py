"""Message templates: seeded spintax `{Hi|Hello}`, then a restricted, sandboxed Jinja2 render."""

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, ItemsView, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from functools import wraps
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
from jinja2.compiler import CodeGenerator, Frame
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
#   1. Spintax: `{a|b|c}` (single braces with at least one `|`, nestable); each group picks an
#      option from a hash of (seed, group number), so one seed always gives the same text.
#      `{{ ... }}`, `{% ... %}` and `{# ... #}` are Jinja and never spintax, nor is the body of
#      `{% raw %}...{% endraw %}` (the way to write a literal `{a|b}`). `{word}` without `|` stays
#      literal text. A template is compiled once: each group becomes an if/elif chain on the
#      seed's choice (tags written `{%+ ... +%}` so they change no whitespace), so a template
#      with many groups is not compiled again for every lead.
#   2. Jinja2 in an immutable sandbox, plain text (no autoescape), trim_blocks + lstrip_blocks.
#      Only `{{ expression }}` and `{% if %}/{% elif %}/{% else %}` are allowed: no for, set,
#      macro, include, range, ... so a template cannot loop, recurse or build values step by step.
#      Calls are limited to harmless str/dict methods, filters to a short list.
#   Missing variables (and None values) render as "".
#
# Bounded rendering: a message is at most MAX_OUTPUT_CHARS, and no render may hold much more than
# that, whatever the template and the lead's values (old rows may hold values far longer than
# dripfleet.lead_limits allows today). So every operation that builds a string or a list checks
# the size of its result *before* building it: `~` (compiled to a call that adds its operands one
# at a time), `+`, `*`, `%`, the filters that build text (join, replace, format, string,
# urlencode, list, ...), str methods on over-long text, and what `{{ }}` prints; the output is
# streamed and stops as soon as it passes the cap. Nothing is evaluated at compile time (the
# optimizer is off), so every check runs at render time. Refusals raise TemplateProblem with
# "the message would be longer than 65,536 characters (<operation>)".

MAX_TEMPLATE_CHARS = 65_536
MAX_OUTPUT_CHARS = 65_536
RESERVED_VARIABLES = ("name", "phone", "first_name", "attributes")

_MAX_SPINTAX_DEPTH = 20
# Every option is compiled on its own by check_template: this bounds that work.
_MAX_SPINTAX_OPTIONS = 1_000
_MAX_INT_BITS = 10_000
_MAX_FIELD_WIDTH = 1_000
# Compiled templates kept, counted in template characters: a compiled template holds about 12
# bytes per character, so this is about 25 MB at most, whatever the templates' sizes.
_CACHE_CHARS = 2_000_000
_CACHE_ENTRY_CHARS = 2_000  # what even a tiny template costs
_SPIN = "__spintax"  # the context variable holding the seed's spintax choices

_SPINTAX_SPECIAL = re.compile(r"[{|}]")
_RAW_START = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
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
# Filters whose result grows with their input: refused for an input longer than a message.
_INPUT_BOUND_FILTERS = (
    "capitalize", "list", "lower", "reverse", "sort", "title", "trim", "unique", "upper",
    "wordcount",
)  # fmt: skip
_STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition",
    "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})  # fmt: skip
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})
# str methods that build a new string or list: refused on a text longer than a message.
_STR_BUILDERS = frozenset({
    "capitalize", "casefold", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
    "rpartition", "rsplit", "rstrip", "split", "splitlines", "strip", "swapcase", "title", "upper",
})  # fmt: skip


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
        compiled, counts = _compiled_message(template)
        context = _context_from(lead)
        context[_SPIN] = _Choices(str(seed), counts)
        chunks: list[str] = []
        size = 0
        stream = compiled.generate(context)
        try:
            for chunk in stream:
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise _too_long("output")
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


def varies(template: str) -> bool:
    """Whether `template` can render differently for different leads: it has a spintax group or
    a Jinja expression / statement. A template that cannot be parsed does not vary."""
    try:
        parts = _parse_spintax(template)
    except TemplateProblem:
        return False
    return any(isinstance(part, _Group) or "{{" in part or "{%" in part for part in parts)


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
    options_seen = 0
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
            options_seen += 2 if len(stack[-1][1]) == 1 else 1  # a first "|" makes two
            if options_seen > _MAX_SPINTAX_OPTIONS:
                raise TemplateProblem(f"more than {_MAX_SPINTAX_OPTIONS:,} spintax options")
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


def _jinja_source(parts: _Parts) -> tuple[str, dict[int, int]]:
    """The template as one Jinja source, each group an if/elif chain on its choice; and the
    number of options of each group. `{%+` / `+%}` keep lstrip_blocks / trim_blocks off for
    these tags, so the text around a group keeps its whitespace as written."""
    out: list[str] = []
    counts: dict[int, int] = {}

    def walk(sequence: _Parts) -> None:
        for part in sequence:
            if isinstance(part, str):
                out.append(part)
                continue
            counts[part.number] = len(part.options)
            for index, option in enumerate(part.options):
                if index == 0:
                    out.append(f"{{%+ if {_SPIN}[{part.number}] == 0 +%}}")
                elif index < len(part.options) - 1:
                    out.append(f"{{%+ elif {_SPIN}[{part.number}] == {index} +%}}")
                else:
                    out.append("{%+ else +%}")
                walk(option)
            out.append("{%+ endif +%}")

    walk(parts)
    return "".join(out), counts


class _Choices:
    """The option each spintax group takes for one seed, computed when the group is reached."""

    def __init__(self, seed: str, counts: Mapping[int, int]) -> None:
        self._seed = seed
        self._counts = counts

    def __getitem__(self, number: int) -> int:
        return _choose(self._seed, number, self._counts[number])


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


def _too_long(what: str) -> TemplateProblem:
    return TemplateProblem(
        f"the message would be longer than {MAX_OUTPUT_CHARS:,} characters ({what})"
    )


def _too_long_input(what: str) -> TemplateProblem:
    return TemplateProblem(f"{what} of a value longer than {MAX_OUTPUT_CHARS:,} characters")


class _MessageCodeGenerator(CodeGenerator):
    """Jinja's compiler, with `a ~ b ~ c` built by the environment one operand at a time."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        # Each operand is a lambda so that it is evaluated only once the operands before it
        # passed the check: a ~ a ~ a ... never holds more than the cap plus one operand.
        self.write("environment.concat((")
        for arg in node.nodes:
            self.write("lambda: ")
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _MessageSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with calls, operators and unsafe attribute access narrowed further."""

    code_generator_class = _MessageCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

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
        if isinstance(owner, str) and name in _STR_BUILDERS and len(owner) > MAX_OUTPUT_CHARS:
            raise _too_long_input(f".{name}()")
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            _check_sum(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return super().call_binop(context, operator, left, right)

    def concat(self, operands: tuple[Callable[[], Any], ...]) -> str:
        """`a ~ b ~ ...`: each operand as text, refused as soon as the total passes the cap."""
        pieces: list[str] = []
        size = 0
        for operand in operands:
            text = _text(operand(), "~")
            size += len(text)
            if size > MAX_OUTPUT_CHARS:
                raise _too_long("~")
            pieces.append(text)
        return "".join(pieces)


def _check_sum(left: Any, right: Any) -> None:
    sequences = str | list | tuple
    if (isinstance(left, sequences) or isinstance(right, sequences)) and (
        _weight(left) + _weight(right) > MAX_OUTPUT_CHARS
    ):
        raise _too_long("+")


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise SecurityError("number too large")
        return
    for sequence, times in ((left, right), (right, left)):
        if (
            isinstance(sequence, str | list | tuple)
            and isinstance(times, int)
            and times > 0
            and _weight(sequence, MAX_OUTPUT_CHARS // times + 1) * times > MAX_OUTPUT_CHARS
        ):
            raise _too_long("repetition")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and max(abs(base).bit_length(), 1) * exponent > _MAX_INT_BITS
    ):
        raise SecurityError("number too large")


def _percent_specs(text: str) -> Any:
    """(key, width, precision, conversion) of each `%` conversion, parsed as Python parses them
    (a key may hold nested parentheses, which a regular expression would get wrong)."""
    end = len(text)
    index = text.find("%")
    while 0 <= index < end - 1:
        i = index + 1
        key = None
        if text[i] == "(":
            depth, i = 1, i + 1
            while depth and i < end:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            key = text[index + 2 : i - 1]
        while i < end and text[i] in "#0- +":
            i += 1
        width, i = _spec_number(text, i)
        precision = ""
        if text[i : i + 1] == ".":
            precision, i = _spec_number(text, i + 1)
        while i < end and text[i] in "hlL":
            i += 1
        yield key, width, precision, text[i : i + 1]
        index = text.find("%", i + 1)


def _spec_number(text: str, i: int) -> tuple[str, int]:
    if text[i : i + 1] == "*":
        return "*", i + 1
    start = i
    while i < len(text) and text[i].isdigit():
        i += 1
    return text[start:i], i


def _check_percent(text: str, args: Any, what: str = "%") -> None:
    """Refuse `text % args` when its result could pass the cap, before building it: every
    conversion is counted as the largest argument (so a miscounted key cannot slip through)."""
    total = len(text)
    if total > MAX_OUTPUT_CHARS:
        raise _too_long(what)
    if isinstance(args, tuple):
        values: Any = args
    elif isinstance(args, Mapping):
        values = (args, *args.values())
    else:
        values = (args,)
    largest: dict[bool, int] = {}
    for _key, width, precision, conversion in _percent_specs(text):
        for number in (width, precision):
            if number == "*" or (number and (len(number) > 6 or int(number) > _MAX_FIELD_WIDTH)):
                raise SecurityError(f"format widths above {_MAX_FIELD_WIDTH} are not allowed")
        total += int(width or 0) + int(precision or 0)
        if conversion in ("r", "a"):  # repr() escapes: count the printed form
            if True not in largest:
                largest[True] = max((_weight(v, inner=True) for v in values), default=0)
            total += largest[True]
        elif conversion != "%":
            if False not in largest:
                largest[False] = max((_weight(v) for v in values), default=0)
            total += largest[False] + (330 if conversion in "fFeEgG" else 0)  # %f of 1e308
        if total > MAX_OUTPUT_CHARS:
            raise _too_long(what)


def _weight(value: Any, limit: int = MAX_OUTPUT_CHARS, inner: bool = False) -> int:
    """At least about the length of str(value) (repr() for items of a collection, `inner`),
    counting no further than just past `limit`; never builds the text."""
    if isinstance(value, str):
        if not inner:
            return len(value)
        if value.isprintable():
            return len(value) + 2 + value.count("'") + value.count("\\")
        return 4 * len(value) + 2  # \n, \x00: up to 4 characters each
    if isinstance(value, Undefined) or value is None or isinstance(value, bool):
        return 9
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, Mapping):
        items: Any = (item for pair in value.items() for item in pair)
    elif isinstance(value, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
        items = value
    else:
        return 64  # e.g. "<generator object ...>", "<built-in method ...>"
    total = 16
    for item in items:
        total += _weight(item, limit - total, inner=True) + 2
        if total > limit:
            break
    return total


def _text(value: Any, what: str) -> str:
    """str(value), refused before it is built when it would be longer than a message."""
    if isinstance(value, str):
        return value
    if _weight(value) > MAX_OUTPUT_CHARS:
        raise _too_long(what)
    return str(value)


@pass_eval_context
def _safe_join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
        raise _too_long_input("|join")
    items = list(value) if isinstance(value, list | tuple) else None
    if items is None:
        items = []
        for item in value:  # a string or a view: stop once it is clearly too long
            items.append(item)
            if len(items) > MAX_OUTPUT_CHARS:
                raise _too_long("join")
    separator = _text(d, "join")
    if len(separator) * max(len(items) - 1, 0) + _weight(items) > MAX_OUTPUT_CHARS:
        raise _too_long("join")
    return jinja_filters.do_join(eval_ctx, items, separator, attribute)


@pass_eval_context
def _safe_replace(
    eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None
) -> str:
    text, old_text, new_text = _text(s, "replace"), _text(old, "replace"), _text(new, "replace")
    hits = len(text) + 1 if not old_text else text.count(old_text)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new_text) - len(old_text)) > MAX_OUTPUT_CHARS:
        raise _too_long("replace")
    return jinja_filters.do_replace(eval_ctx, text, old_text, new_text, count)


def _safe_format(value: Any, *args: Any, **kwargs: Any) -> str:
    text = _text(value, "format")
    _check_percent(text, kwargs or args, "format")
    return jinja_filters.do_format(text, *args, **kwargs)


def _safe_string(value: Any) -> str:
    return _text(value, "string")


# urlencode writes a byte as itself or as %XX
_URL_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/"


def _safe_urlencode(value: Any) -> str:
    if isinstance(value, str):
        if len(value) > MAX_OUTPUT_CHARS:
            raise _too_long("urlencode")
        data = value.encode("utf-8")
        size = len(data) + 2 * len(data.translate(None, _URL_SAFE))
    else:
        size = 9 * _weight(value)  # a character is at most 3 bytes of 3 characters each
    if size > MAX_OUTPUT_CHARS:
        raise _too_long("urlencode")
    return jinja_filters.do_urlencode(value)


def _input_bound(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a Jinja filter) refusing an input that is longer than a message."""
    position = 1 if getattr(function, "jinja_pass_arg", None) else 0

    @wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position and _weight(args[position]) > MAX_OUTPUT_CHARS:
            raise _too_long_input(f"|{name}")
        return function(*args, **kwargs)

    return checked


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    # pass_eval_context also keeps Jinja from printing constants at compile time
    if value is None:
        return ""
    if not isinstance(value, str) and _weight(value) > MAX_OUTPUT_CHARS:
        raise _too_long("output")
    return value


def _make_environment() -> _MessageSandbox:
    environment = _MessageSandbox(
        autoescape=False,
        undefined=ChainableUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        optimized=False,  # no constant folding: filters and operators run only at render time
        cache_size=0,  # templates are kept by _CompiledCache, counted by size
    )
    filters = {name: environment.filters[name] for name in _FILTERS}
    for name in _INPUT_BOUND_FILTERS:
        filters[name] = _input_bound(name, filters[name])
    filters.update(
        join=_safe_join, replace=_safe_replace, format=_safe_format, string=_safe_string,
        urlencode=_safe_urlencode,
    )
    environment.filters = filters
    environment.globals.clear()  # no range, lipsum, cycler, namespace, ...
    return environment


_ENVIRONMENT = _make_environment()


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


class _CompiledCache:
    """Compiled messages by template, least recently used out first, within a budget of
    template characters (a count alone would let 512 templates of 65,536 characters stay)."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, template: str, build: Callable[[str], Any]) -> Any:
        """The cached value for `template`, built (outside the lock) when missing."""
        with self._lock:
            entry = self._entries.get(template)
            if entry is not None:
                self._entries.move_to_end(template)
                return entry[0]
        value = build(template)
        cost = len(template) + _CACHE_ENTRY_CHARS
        with self._lock:
            if template not in self._entries:
                self._entries[template] = (value, cost)
                self._used += cost
            while self._used > self._budget and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._used -= dropped
        return value


_CACHE = _CompiledCache(_CACHE_CHARS)


def _build_message(template: str) -> Any:
    """(Template, options per group), or the TemplateProblem, which is cached as well: a
    broken template is not compiled again for every lead."""
    try:
        source, counts = _jinja_source(_parse_spintax(template))
        return _compile(source), counts
    except Exception as exc:
        return _problem(exc)


def _compiled_message(template: str) -> tuple[Template, dict[int, int]]:
    if not isinstance(template, str):
        raise TemplateProblem("the template must be text")
    built = _CACHE.get(template, _build_message)
    if isinstance(built, TemplateProblem):
        raise built
    return built


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
