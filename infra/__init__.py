"""llm-serving: a Pulumi program and offline planner for self-hosted LLM serving on EKS.

Layers, each importing only from the ones before it (tests/test_layers.py checks it):
catalog → config → capacity → deployment → aws → cluster_services → serving → program → offline.
"""

from pathlib import Path

PROJECT = "llm-serving"
REPO_ROOT = Path(__file__).resolve().parent.parent
CHARTS_DIR = REPO_ROOT / "charts"
