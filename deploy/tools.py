"""Running the bundle's vendor-tool commands (`build.sh`) when Vivado/Vitis are on PATH.

The tools run in their own process group (`onebit.hw.proc`), killed when onebit is
interrupted; their output goes to `deploy/vivado/build.log`.
"""

from __future__ import annotations

import shutil

from onebit.deploy.bundle import Plan
from onebit.errors import BuildError
from onebit.hw import proc


def missing_tools(plan: Plan) -> list[str]:
    return [t for t in plan.tools if shutil.which(t) is None]


def run_tools(plan: Plan) -> list[str]:
    """Run `build.sh`; the outputs it made (raises naming the log when one is missing)."""
    res = proc.run(["bash", "build.sh"], cwd=plan.root)
    log = plan.root / "vivado" / "build.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(res.stdout + res.stderr)
    missing = [o for o in plan.outputs if not (plan.root / o).is_file()]
    if res.returncode != 0 or missing:
        why = f"exit status {res.returncode}" if res.returncode else f"no {missing[0]}"
        raise BuildError("bitstream", f"{' / '.join(plan.tools)} failed ({why}); see {log}")
    return plan.outputs
