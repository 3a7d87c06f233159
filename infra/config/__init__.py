"""The stack file's typed boundary: one pydantic model per top-level section, composed in `stack.py`.

Where a new setting goes: in the module of the section it belongs to (`cluster`, `pools`, `models`,
`serving`, `monitoring`, `economics`), with a description and an example; a rule that spans
sections goes to `checks.py`. Only `load.py` reads Pulumi config; everything downstream takes
the frozen `StackConfig`.
"""

from infra.config.checks import advisories
from infra.config.load import SECRET_KEYS, Secrets, load, load_secrets, parse
from infra.config.problems import ConfigError, Problem
from infra.config.stack import StackConfig

__all__ = ["SECRET_KEYS", "ConfigError", "Problem", "Secrets", "StackConfig", "advisories", "load", "load_secrets", "parse"]
