"""llm-serving: a Pulumi program and offline planner for self-hosted LLM serving on EKS."""

PROJECT = "llm-serving"
