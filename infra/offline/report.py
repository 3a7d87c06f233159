"""The plan's human-readable reports (Markdown), rendered with jinja2: sizing and cost (the terminal
view and `--out DIR/report.md` share them) and the diff of two plans (a pull-request comment)."""

from __future__ import annotations

import jinja2

from infra.capacity.sizing import ModelSizing
from infra.deployment import Deployment
from infra.offline.diff import PlanDiff, show

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False)
_ENV.filters["usd"] = lambda value: f"${value:,.2f}"
_ENV.filters["show"] = show
_ENV.filters["short_type"] = lambda t: t.split(":")[-1]
_ENV.filters["delta"] = lambda pair: _delta(*pair)
_ENV.filters["tokens"] = lambda value: f"{value / 1e9:,.2f}B" if value >= 1e9 else f"{value / 1e6:,.1f}M"

SIZING = _ENV.from_string(
    """\
| model | GPU | TP | weights | weights GiB | KV cache GiB | KV tokens | full-length seqs | fits | output tok/s per replica |
|---|---|---|---|---|---|---|---|---|---|
{% for s in sizing %}
| {{ s.model }} | {{ s.tensor_parallel }}x {{ s.gpu }} ({{ s.instance_type }}) | {{ s.tensor_parallel }} | {{ s.weight_bits }}-bit{{ " " ~ s.quantization if s.quantization else "" }} | {{ "%.1f"|format(s.fit.weights_gib) }} | {{ "%.1f"|format(s.fit.kv_cache_gib) }} | {{ "{:,}".format(s.fit.kv_cache_tokens) }} | {{ s.fit.max_full_length_sequences }} of {{ s.max_model_len }} | {{ "yes" if s.fits else "NO" }} | {{ "{:,.0f}".format(s.output_tokens_per_second) }}{% if not s.measured %} ({{ "{:,.0f}".format(s.band[0]) }}-{{ "{:,.0f}".format(s.band[1]) }}){% endif %}, {{ s.throughput_source }}; batch {{ s.estimate.batch }} ({{ s.estimate.limited_by }}) |
{% endfor %}
"""
)

COST = _ENV.from_string(
    """\
| | per hour | per month |
|---|---|---|
| configured replicas | {{ cost.hourly_usd|usd }} | {{ cost.monthly_usd|usd }} |
| full spot scale-out | {{ cost.hourly_usd_full_spot_scale_out|usd }} | {{ cost.monthly_usd_full_spot_scale_out|usd }} |
| configured, with {{ "%d"|format(cost.ops_overhead * 100) }}% operations overhead | | {{ cost.monthly_usd_with_ops_overhead|usd }} |

| pool | instance | on-demand nodes | spot nodes (max) | per hour |
|---|---|---|---|---|
{% for p in cost.pools %}
| {{ p.pool }} | {{ p.instance_type }} | {{ p.on_demand_nodes }} x {{ p.on_demand_node_usd_hour|usd }} | {{ p.spot_nodes }} ({{ p.spot_nodes_max }}) x {{ p.spot_node_usd_hour|usd }} | {{ p.hourly_usd|usd }} |
{% endfor %}
| platform | EKS, NAT, system nodes | | | {{ cost.platform_hourly_usd.values()|sum|usd }} |

{% if cost.per_million_tokens %}
Capacity: {{ "{:,.0f}".format(cost.capacity_tokens_per_second) }} tokens/s ({{ "{:,.0f}".format(cost.capacity_output_tokens_per_second) }} output), {{ cost.monthly_token_capacity|tokens }} tokens/month at 100 % (requests of {{ cost.workload.prompt_tokens }} prompt + {{ cost.workload.output_tokens }} output tokens).

| utilization | $ per million tokens (incl. ops overhead) |
|---|---|
{% for label, value in cost.per_million_tokens.items() %}
{% if label == "expected" %}
| expected: {{ "%.1f"|format(value.utilization * 100) }} % | {{ value.usd|usd }} |
{% else %}
| {{ label }} | {{ value|usd }} |
{% endif %}
{% endfor %}
{% if cost.api is defined %}

Against {{ cost.api.name }} at {{ cost.api.usd_per_million_tokens|usd }} per million tokens (blended for this workload): {{ cost.api.verdict }}.
{% endif %}
{% else %}
No models: no token capacity to price.
{% endif %}
"""
)


DIFF = _ENV.from_string(
    """\
{% if diff.empty %}
### `{{ diff.stack }}`: no changes
{% else %}
### `{{ diff.stack }}`: {{ diff.added|length }} to add, {{ diff.changed|length }} to change, {{ diff.removed|length }} to remove

| | base | this change | delta |
|---|---|---|---|
{% for label, pair in diff.gpus.items() %}
| GPUs, {{ label }} | {{ pair[0] }} | {{ pair[1] }} | {{ pair|delta }} |
{% endfor %}
{% for label, pair in diff.cost.items() %}
| {{ label }} | {{ pair[0]|show }} | {{ pair[1]|show }} | {{ pair|delta }} |
{% endfor %}
{% for label, pair in diff.capacity.items() %}
| {{ label }} | {{ pair[0]|show }} | {{ pair[1]|show }} | {{ pair|delta }} |
{% endfor %}
{% if diff.warnings.added or diff.warnings.resolved %}

**Warnings**

{% for w in diff.warnings.added %}
- ⚠️ new: {{ w }}
{% endfor %}
{% for w in diff.warnings.resolved %}
- ✅ resolved: {{ w }}
{% endfor %}
{% endif %}
{% if diff.sizing %}

**Sizing**

| model | | base | this change |
|---|---|---|---|
{% for model, fields in diff.sizing.items() %}
{% for name, pair in fields.items() %}
| {{ model }} | {{ name }} | {{ pair[0]|show }} | {{ pair[1]|show }} |
{% endfor %}
{% endfor %}
{% endif %}
{% if diff.vllm_args %}

**vLLM arguments**

{% for deployment, change in diff.vllm_args.items() %}
- `{{ deployment }}`:{% for arg in change.removed %} ~~`{{ arg }}`~~{% endfor %}{% for arg in change.added %} `{{ arg }}`{% endfor %}

{% endfor %}
{% endif %}
{% if diff.added or diff.removed %}

**Resources added / removed**

{% for r in diff.added %}
- ➕ `{{ r.name }}` ({{ r.type|short_type }})
{% endfor %}
{% for r in diff.removed %}
- ➖ `{{ r.name }}` ({{ r.type|short_type }})
{% endfor %}
{% endif %}
{% if diff.changed %}

<details><summary>Changed inputs ({{ diff.changed|length }} resources)</summary>

| resource | input | before | after |
|---|---|---|---|
{% for r in diff.changed %}
{% for c in r.changes %}
| `{{ r.name }}` ({{ r.type|short_type }}) | `{{ c.path }}` | `{{ c.old|show }}` | `{{ c.new|show }}` |
{% endfor %}
{% endfor %}

</details>
{% endif %}
{% endif %}
"""
)


def _delta(old, new) -> str:
    if old is None or new is None or old == new:
        return "" if old == new else "n/a"
    change = new - old
    share = f" ({change / old:+.0%})" if old else ""
    return f"{change:+,.2f}{share}" if isinstance(change, float) else f"{change:+,}{share}"


COLD_START = _ENV.from_string(
    """\
| model | instance | node | image | weights | engine | total | startup probe budget |
|---|---|---|---|---|---|---|---|
{% for model, c in cold_start.items() %}
| {{ model }} | {{ c.instance_type }} | {% for part in c.parts %}{{ "%.0f"|format(part.seconds) }} s | {% endfor %}**{{ "%.0f"|format(c.seconds) }} s** | {{ startup[model] }} min |
{% endfor %}

{% for model, c in cold_start.items() %}
{% for part in c.parts %}
- {{ model }} {{ part.name }}: {{ part.basis }} (from: {{ part.sources|join(", ") }})
{% endfor %}
{% endfor %}
"""
)


def cold_start_table(deployment: Deployment) -> str:
    """Each model's cold start by part, and how each part was computed (figures in infra/catalog/cold_start.yaml)."""
    startup = {model: deployment.startup_minutes(model) for model in deployment.cold_start}
    return COLD_START.render(cold_start=dict(deployment.cold_start), startup=startup)


def restored(seconds: int | None, otherwise: str) -> str:
    if seconds is None:
        return f"not by itself ({otherwise})" if otherwise else "not by itself"
    return "now" if seconds == 0 else f"~{seconds / 60:.1f} min"


def autoscaling_lines(deployment: Deployment) -> str:
    """How long a scale-up of each autoscaled model takes: onto a fresh node, and onto a node already up."""
    lines = []
    for model in deployment.config.models:
        if not model.autoscaling.enabled:
            continue
        cold = deployment.cold_start[model.name]
        lines.append(
            f"- {model.name}: spot replicas {model.replicas.spot}..{model.autoscaling.max_spot_replicas} on vllm:num_requests_waiting "
            f"(target {model.autoscaling.waiting_requests_per_replica} per replica); a new replica serves ~{cold.seconds / 60:.1f} min after "
            f"scale-up on a fresh node, ~{cold.in_container_seconds / 60:.1f} min on a node already up with the image"
        )
    return "\n".join(lines)


def diff_report(diff: PlanDiff) -> str:
    return DIFF.render(diff=diff)


def sizing_table(sizing: list[ModelSizing]) -> str:
    return SIZING.render(sizing=sizing) if sizing else "(no models)\n"


def cost_report(cost: dict) -> str:
    return COST.render(cost=cost)
