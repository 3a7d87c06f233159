"""Reading a Pulumi stack file the way the Pulumi CLI does, so the plan and `pulumi up` see one config.

The Pulumi CLI parses stack files with go-yaml v3, which follows YAML 1.2's core schema:
  - only true/false (any case) are booleans: `on`, `off`, `yes`, `no`, `y`, `n` stay strings;
  - integers are decimal, 0o octal or 0x hex: `010` is ten, `0b1`, `1_000` and `1:30` are strings;
  - a key given twice in one mapping is an error ("mapping key already defined");
  - aliases are expanded, but a document that expands past a bound is refused.
PyYAML implements YAML 1.1, so this module swaps its implicit resolvers for YAML 1.2's, refuses
duplicate keys, and counts the nodes aliases expand to before anything is constructed.

Errors are one line, `file:line:col: what`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from infra import PROJECT
from infra.config.base import suggest
from infra.config.limits import YAML_MAX_BYTES, YAML_MAX_EXPANDED_NODES
from infra.config.problems import Problem


class StackFileError(Exception):
    """The stack file is not YAML the Pulumi CLI would read the same way."""


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars and duplicate keys refused."""


# YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2 "Tag Resolution").
_CORE = [
    ("tag:yaml.org,2002:merge", r"^<<$", "<"),  # merge keys, which go-yaml v3 also honours
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
]
_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in _CORE:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # YAML 1.2: a leading zero is still decimal


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node).lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith(".nan"):
        return float("nan")
    return float(text)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark) from None
        if key in seen:
            first = seen[key].start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice in one mapping (first at line {first.line + 1}); the Pulumi CLI refuses the file", key_node.start_mark
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:merge", lambda loader, node: loader.construct_scalar(node))  # `<<` as a value
_Yaml12Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: _construct_mapping(loader, node, deep=True))


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes the document has once every alias is expanded (each distinct node counted once per use)."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = min(size, YAML_MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


def _where(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)


def load_stack_file(path: Path) -> dict[str, Any]:
    """The stack file's document (an empty mapping for an empty file); StackFileError otherwise."""
    data = path.read_bytes()
    if len(data) > YAML_MAX_BYTES:
        raise StackFileError(f"{path}: {len(data):,} bytes; a stack file is at most {YAML_MAX_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    loader = _Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        if _expanded_size(node, {}) > YAML_MAX_EXPANDED_NODES:
            raise StackFileError(f"{_where(path, node.start_mark)}: aliases expand past {YAML_MAX_EXPANDED_NODES:,} nodes; refusing a YAML alias bomb")
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise StackFileError(f"{_where(path, mark)}: {what}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path}: {exc}") from None
    except RecursionError:
        raise StackFileError(f"{path}: nested too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(document, dict):
        raise StackFileError(f"{_where(path, node.start_mark)}: a stack file is a mapping with a `config:` key, got {type(document).__name__}")
    return document


def _normalized(namespace: str) -> str:
    return re.sub(r"[^a-z0-9]", "", namespace.lower())


def namespace_problems(config: dict[str, Any]) -> list[Problem]:
    """Keys under a namespace that is a misspelling of this project's: Pulumi would hand them to no
    one, and the stack would silently run on defaults. Other providers' keys (aws:region) are fine."""
    problems = []
    for key in config:
        namespace, colon, name = str(key).partition(":")
        if not colon or namespace == PROJECT:
            continue
        if _normalized(namespace) == _normalized(PROJECT) or suggest(namespace, [PROJECT]):
            problems.append(
                Problem((name,), f"namespace {namespace!r} is not this project's, so Pulumi would hand this key to no one; did you mean {PROJECT}:{name}?", config[key], namespace=namespace)
            )
    return problems


def config_section(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """The document's `config:` mapping (empty when absent)."""
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config:` must be a mapping of keys to values, got {type(config).__name__}")
    return config
