"""`make bench`: speed of psilon-bench against baselines measured in the same run.

Every `benchmarks/bench_*.py` is a section: it defines NAME, `run(args) -> dict` and
optionally `add_arguments(parser)`. `make bench` runs the default sections (a few minutes);
`--long` adds the long ones (`psilon`: the P1 configuration), `--only a,b` picks some.
One torch thread in this process (the Makefile also sets OMP_NUM_THREADS=1; sections that
time whole `psilon-bench run` processes give them the user's environment). Figures are
ratios against baselines timed in the same run, in interleaved rounds (A B A B) with
medians (`--repeats`), beside the 1-minute load average, because the machine is shared.
Results print as tables and go to `--out` (default results/bench/bench.json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import console  # noqa: E402

#: Sections only `--long` (or `--only`) runs.
LONG = ["psilon"]
#: The order sections run in (others after, alphabetically).
ORDER = ["e2e", "threads", "mlp", "eval", "soft_diamond", "gpu", "psilon"]


def sections() -> dict[str, Any]:
    mods = [importlib.import_module(p.stem) for p in sorted(HERE.glob("bench_*.py"))]
    found = {m.NAME: m for m in mods}
    return dict(sorted(found.items(), key=lambda kv: (ORDER + [kv[0]]).index(kv[0])))


def main() -> None:
    found = sections()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    quick = [n for n in found if n not in LONG]
    parser.add_argument("--only", default=None, help=f"sections: {', '.join(found)}")
    parser.add_argument("--long", action="store_true", help=f"add {', '.join(LONG)}")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (medians)")
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
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_at_start": os.getloadavg()[0],
        },
    }
    names = args.only.split(",") if args.only else quick + (LONG if args.long else [])
    for name in names:
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
