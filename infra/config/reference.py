"""The README's configuration reference, generated from the pydantic models in infra/config/,
so every key is documented with its type, default, description and an example.

`python -m infra config-reference` prints it; a test keeps README.md in step.
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
from infra.config.load import SECRET_KEYS
from infra.config.stack import StackConfig

_TEMPLATE = jinja2.Template(
    """| key | type | default | description | example |
|---|---|---|---|---|
{% for row in rows -%}
| `{{ row.path }}` | {{ row.type }} | {{ row.default }} | {{ row.description }} | `{{ row.example }}` |
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
        default = "required" if field.default is PydanticUndefined else f"`{json.dumps(field.default, default=lambda m: m.model_dump(by_alias=True, exclude_defaults=True))}`"
        result.append(
            Row(path, _type_name(field.annotation), default, field.description or "", json.dumps(field.examples[0]) if field.examples else "")
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
    return _TEMPLATE.render(rows=rows() + secret_rows()).strip() + "\n"


START, END = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"


def write_into(readme: Path) -> None:
    """Replace the block between the config-reference markers of a Markdown file."""
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + render() + END + tail)
