"""psilon-bench: small-data benchmarks of sparse, norm-controlled neural networks.

The Python API (the command line's own paths, so the configs, checks, files and numbers
are the same; a user error raises the exception whose message is the CLI's `error:` line):

    import psilon_bench as pb
    records = pb.run(["model=psilon_net", "regularizer=path_norm", "seeds=3"])
    sweep = pb.run(["dataset=iris,wine", "model=mlp,psilon_net"], out="sweeps/demo", multirun=True)
    frames = pb.table("sweeps/demo")          # {"table": ..., "selected": ..., "stats": ...}

Import-light on purpose: `import psilon_bench` (and the CLI) must not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time `__getattr__` loads them on first use
    from psilon_bench.cli.api import collect, run, table

__version__ = "0.1.0"
__all__ = ["__version__", "collect", "run", "table"]


def __getattr__(name: str) -> Any:
    """`run`, `collect` and `table` (psilon_bench.cli.api), loaded on first use so that
    `import psilon_bench` stays light."""
    if name in ("run", "collect", "table"):
        from psilon_bench.cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'psilon_bench' has no attribute {name!r}")
