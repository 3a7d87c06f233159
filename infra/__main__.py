"""Two entry points in one file, as DESIGN.md asks:

- `pulumi up` / `pulumi preview` run this folder as the Pulumi program (Pulumi.yaml `main: infra/`);
- `python -m infra plan ...` runs the offline planner (see infra/cli.py).

Pulumi executes the folder with runpy, where `__package__` is empty; `python -m infra` sets it.
"""

import sys
from pathlib import Path

if __package__:
    from infra.offline.cli import main

    sys.exit(main(sys.argv[1:]))
else:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # so `import infra` works under runpy
    from datetime import date

    from infra.program import run

    run(as_of=date.today())  # the one place the calendar is read under `pulumi up`: the plan CLI takes --as-of
