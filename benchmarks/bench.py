"""`make bench`: speed of psilon-bench against baselines measured in the same run.

Every `benchmarks/bench_*.py` is a section: it defines NAME, `run(args) -> dict` and
optionally `add_arguments(parser)`. Run all sections, or some with `--only a,b`.
One torch thread throughout (the Makefile also sets OMP_NUM_THREADS=1). Figures are ratios
against baselines timed in the same process, because the machine is shared and noisy; each
timing is the best of `--repeats` runs. Results print as tables and go to `--out`
(default results/bench/bench.json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import console  # noqa: E402


def sections() -> dict[str, Any]:
    mods = [importlib.import_module(p.stem) for p in sorted(HERE.glob("bench_*.py"))]
    return {m.NAME: m for m in mods}


def main() -> None:
    found = sections()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(found), help=f"sections: {', '.join(found)}")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    parser.add_argument("--out", default="results/bench/bench.json")
    for mod in found.values():
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "machine": {
            "cpu": _cpu_name(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },
    }
    for name in args.only.split(","):
        if name not in found:
            raise SystemExit(f"error: unknown section {name!r}; allowed: {', '.join(found)}")
        report[name] = found[name].run(args)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    console.print(f"written: {path}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
