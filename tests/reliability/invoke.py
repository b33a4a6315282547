"""Run `psilon-bench` in this process (the real CLI, real Hydra, real files), capturing
what a user would see: exit code, stdout, stderr; an exception that escapes the CLI is
recorded as a crash with its traceback (a user would have seen it)."""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from psilon_bench.cli import main as cli

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


@dataclass
class Result:
    code: int | str  # exit code, or "crash"
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.strip().splitlines()

    def one_line_error(self) -> str:
        """The single `error: ...` line of stderr (asserts there is exactly one, no traceback)."""
        assert self.code != "crash", self.err
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err
        assert len(self.lines) == 1, self.err
        assert self.lines[0].startswith("error: "), self.err
        return self.lines[0]


def invoke(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Result:
    """`psilon-bench <args>` run in `cwd` with `env` added to the environment."""
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    os.environ.update({"PSILON_BENCH_DATA": str(SHARED_DATA), **(env or {})})
    out, err = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code: int | str = cli.main(list(args))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - what escapes the CLI is what the user would see
        code = "crash"
        err.write(traceback.format_exc())
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())


def files_under(root: Path) -> list[str]:
    """Every file and folder below `root`, relative (an empty folder counts)."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))
