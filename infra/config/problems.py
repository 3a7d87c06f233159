"""Turning validation failures into one line per problem: the stack, the key path, the value and
what is allowed."""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from typing import Any

import pulumi

from infra import PROJECT
from infra.config.base import ConfigModel
from infra.config.redact import redact, redact_text
from infra.config.stack import StackConfig


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's configuration."""

    loc: tuple[str | int, ...]
    message: str
    value: Any = None
    missing: bool = False
    namespace: str = PROJECT

    @property
    def path(self) -> str:
        if not self.loc:
            return "stack name"
        head, *rest = self.loc
        text = f"{_printable(self.namespace)}:{_key(head)}"
        for part in rest:
            if part == "[key]":  # pydantic's marker for an invalid dict key; the key itself precedes it
                continue
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if _PLAIN_KEY.match(str(part)) else f"[{_key(part)}]")
        return text

    def __str__(self) -> str:
        """One line; anything that looks like a credential, in the value, the path or the message, redacted."""
        path, message = redact_text(self.path), redact_text(_printable(" ".join(self.message.split())))
        if self.missing:
            return f"{path}: missing required key; {message}"
        shown = json.dumps(redact(self.value), default=str)  # JSON escapes control characters
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{path}: got {shown}; {message}"


_PLAIN_KEY = re.compile(r"^[\w./:@+-]+$")


def _key(part: str | int) -> str:
    """A key as written in the stack file, or JSON-quoted when it holds spaces or control characters
    (which would otherwise break the one-line message)."""
    return str(part) if _PLAIN_KEY.match(str(part)) else json.dumps(str(part))


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class ConfigError(pulumi.RunError):
    """A stack's configuration is invalid. Raised before any resource is registered."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Stack '{stack}' has an invalid configuration ({count}):\n{lines}")


def _models_in(annotation: Any) -> list[type[ConfigModel]]:
    """The config models an annotation can hold, looking through Optional, list, dict and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, ConfigModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _field_at(loc: tuple[str | int, ...]):
    """The model holding the key at `loc`, and that key's field (None for an unknown key)."""
    models: list[type[ConfigModel]] = [StackConfig]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = [f for m in models for f in m.model_fields.values() if f.alias == part]
        models = [m for f in fields for m in _models_in(f.annotation)]
    for model in models:
        for field in model.model_fields.values():
            if field.alias == loc[-1]:
                return model, field
    return (models[0] if models else None), None


def problem_from(error: dict) -> Problem:
    loc = tuple(error["loc"])
    model, field = _field_at(loc) if loc else (StackConfig, None)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(f.alias for f in model.model_fields.values()) if model else "none"
        return Problem(loc, f"unknown key; allowed keys here: {allowed}", error["input"])
    if kind == "missing":
        example = f"e.g. {json.dumps(field.examples[0])}" if field and field.examples else ""
        described = f"{field.description} " if field and field.description else ""
        return Problem(loc, f"{described}{example}".strip(), missing=True)
    return Problem(loc, error["msg"].removeprefix("Value error, "), error["input"])


