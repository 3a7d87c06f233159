"""The llm-serving CrossGuard policy pack: `pulumi preview --policy-pack policy/` runs it."""

from policies import RESOURCE_POLICIES, STACK_POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy


def _resource_policy(name, description, check):
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=lambda args, report_violation: check(args.resource_type, args.props, report_violation),
    )


def _stack_policy(name, description, check):
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=lambda args, report_violation: check([(r.resource_type, r.props) for r in args.resources], report_violation),
    )


PolicyPack(
    name="llm-serving",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_resource_policy(n, d, c) for n, (d, c) in RESOURCE_POLICIES.items()] + [_stack_policy(n, d, c) for n, (d, c) in STACK_POLICIES.items()],
)
