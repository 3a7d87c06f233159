"""The configuration reference (docs/configuration.md), generated from the pydantic models in infra/config/,
so every key is documented with its type, default, limits, description and an example. The limits
column is the field's own bounds (ge/le, lengths, pattern) and the downstream limits declared in
limits.py (KEY_LIMITS), so the reference states each limit where the key is.

`python -m infra config-reference` prints it; a test keeps docs/configuration.md in step.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from pathlib import Path

import jinja2
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra import PROJECT
from infra.config.limits import KEY_LIMITS
from infra.config.load import SECRET_KEYS
from infra.config.stack import StackConfig

_TEMPLATE = jinja2.Template(
    """Stack names: {{ stack_limit }}.

| key | type | default | limits | description | example |
|---|---|---|---|---|---|
{% for row in rows -%}
| `{{ row.path }}` | {{ row.type }} | {{ row.default }} | {{ row.limits }} | {{ row.description }} | `{{ row.example }}` |
{% endfor %}""",
    autoescape=False,
)


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    description: str
    example: str
    limits: str = ""


def _type_name(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = (("ge", ">= {}"), ("gt", "> {}"), ("le", "<= {}"), ("lt", "< {}"), ("min_length", "at least {} items"), ("max_length", "at most {} items"))


def _limits(field, path: str) -> str:
    """The field's own bounds, then the downstream limits limits.py declares for this key."""
    found = []
    for constraint in field.metadata:
        for name, text in _BOUNDS:
            if getattr(constraint, name, None) is not None:
                found.append(text.format(getattr(constraint, name)))
        pattern = getattr(constraint, "pattern", None)
        if pattern:
            found.append(f"`{pattern}`".replace("|", "\\|"))
    if path in KEY_LIMITS:
        found.append(KEY_LIMITS[path])
    return "; ".join(found).replace("|", "\\|") if found else ""


def _nested_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        model = _nested_model(arg)
        if model:
            return model
    return None


def rows(model: type[BaseModel] = StackConfig, prefix: str = f"{PROJECT}:") -> list[Row]:
    result = []
    for field in model.model_fields.values():
        path = f"{prefix}{field.alias}"
        dated = (field.json_schema_extra or {}).get("dated_default") if isinstance(field.json_schema_extra, dict) else None
        if dated:
            default = str(dated)
        elif field.default is PydanticUndefined:
            default = "required"
        else:
            default = f"`{json.dumps(field.default, default=lambda m: m.model_dump(by_alias=True, exclude_defaults=True))}`"
        result.append(
            Row(path, _type_name(field.annotation), default, field.description or "", json.dumps(field.examples[0]) if field.examples else "", _limits(field, path.replace("[]", "[]")))
        )
        nested = _nested_model(field.annotation)
        if nested:
            is_list = typing.get_origin(field.annotation) is list
            result.extend(rows(nested, f"{path}[]." if is_list else f"{path}."))
    return result


def secret_rows() -> list[Row]:
    return [
        Row(f"{PROJECT}:{key}", "secret string", "unset", f"{description}. Only as a Pulumi secret: plain text is refused.", f"pulumi config set --secret {PROJECT}:{key} ...")
        for key, description in SECRET_KEYS.items()
    ]


def render() -> str:
    return _TEMPLATE.render(rows=rows() + secret_rows(), stack_limit=KEY_LIMITS["stack name"]).strip() + "\n"


START, END = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"


def write_into(readme: Path) -> None:
    """Replace the block between the config-reference markers of a Markdown file."""
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + render() + END + tail)
