"""IAM helpers: policy documents, managed-policy ARNs, and IRSA roles for service accounts."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust_policy(service: str) -> str:
    """Lets an AWS service (e.g. eks.amazonaws.com) assume the role."""
    return policy_document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def managed_policy_arn(partition: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", name)


def irsa_role(
    name: str,
    *,
    oidc_provider: aws.iam.OpenIdConnectProvider,
    namespace: str,
    service_account: str,
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """A role only the given Kubernetes service account can assume (IAM Roles for Service Accounts)."""
    issuer = oidc_provider.url.apply(lambda url: url.removeprefix("https://"))
    trust = pulumi.Output.all(oidc_provider.arn, issuer).apply(
        lambda args: policy_document(
            {
                "Effect": "Allow",
                "Principal": {"Federated": args[0]},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{args[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{args[1]}:aud": "sts.amazonaws.com",
                    }
                },
            }
        )
    )
    return aws.iam.Role(name, assume_role_policy=trust, opts=opts)
