"""Redaction of anything that looks like a credential, wherever it sits in a value or a message.

Every configuration error goes through `redact` (Problem.__str__): a token pasted under the wrong
key, inside a list, a nested object or an extraArgs flag is shown as `REDACTED`, never in clear.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

REDACTED = "[redacted: looks like a credential]"

# Known credential shapes (each vendor's documented prefix).
_KNOWN = re.compile(
    r"hf_[A-Za-z0-9]{8,}"  # Hugging Face user access token
    r"|sk-ant-[A-Za-z0-9_-]{8,}"  # Anthropic API key
    r"|sk-[A-Za-z0-9_-]{8,}"  # OpenAI (sk-, sk-proj-) and LiteLLM virtual keys
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub tokens
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
# Candidates for the entropy test: long runs of token characters.
_TOKEN = re.compile(r"[A-Za-z0-9+/_.-]{24,}={0,2}")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_AWS_SECRET = re.compile(r"^[A-Za-z0-9/+]{40}$")  # an AWS secret access key's shape
_AWS_SECRET_IN_TEXT = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(token: str) -> bool:
    """A long token of mixed letters and digits with high entropy: an AWS secret key, a JWT, an
    API key without a known prefix. Hex (commit hashes, digests) and words with dashes are not."""
    core = token.strip("=._-")
    if len(core) < 24 or _HEX.match(core):
        return False
    classes = sum(bool(re.search(pattern, core)) for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    if _AWS_SECRET.match(core) and classes == 3:
        return True
    parts = re.split(r"[-_./]", core)
    if max(len(p) for p in parts) < 20:  # words joined by separators: names, ids, paths
        return False
    return classes == 3 and _entropy(core) >= 4.0


def _candidates(text: str) -> list[str]:
    return [m.group(0) for pattern in (_TOKEN, _AWS_SECRET_IN_TEXT) for m in pattern.finditer(text)]


def looks_like_secret(text: str) -> bool:
    return bool(_KNOWN.search(text)) or any(_random_looking(token) for token in _candidates(text))


def redact_text(text: str) -> str:
    text = _KNOWN.sub(REDACTED, text)
    text = _AWS_SECRET_IN_TEXT.sub(lambda m: REDACTED if _random_looking(m.group(0)) else m.group(0), text)
    return _TOKEN.sub(lambda m: REDACTED if _random_looking(m.group(0)) else m.group(0), text)


def redact(value: Any) -> Any:
    """The value with every string that looks like a credential replaced (keys too), recursively."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
