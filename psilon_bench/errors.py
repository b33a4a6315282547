"""User-facing errors: one line, exit code 2, nothing written (see `psilon_bench.cli.main`)."""


class UserError(ValueError):
    """A mistake in the user's input (config, data, command line); printed as one line."""

    exit_code = 2


class ConfigError(UserError):
    """A config key, type or value outside what is allowed."""


class DataError(UserError):
    """A dataset that is missing, unreadable or too small for the requested split."""


class UsageError(UserError):
    """A malformed command line (unknown option, bad option value)."""


class OutputError(UserError):
    """The output folder cannot be written (read-only, full, not a folder)."""


class AllDiverged(UserError):
    """Every member of a run diverged: the records are written (status=diverged), exit 3."""

    exit_code = 3


class UserAbort(BaseException):  # noqa: N818
    """Carries a UserError through Hydra, whose job runner and callback hooks catch every
    `Exception` and print multi-line reports (or only warn). `psilon_bench.cli.main` unwraps it
    and prints the one-line message."""

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error


class SweepFailed(BaseException):  # noqa: N818
    """At least one job of a sweep failed (each left FAILED in its folder); raised after
    the sweep so Hydra passes it through; `psilon_bench.cli.main` prints it and exits 1."""

    exit_code = 1


def error_line(err: BaseException) -> str:
    """`Type: message` of an unexpected error, its first line (what a one-line report of a
    library's or a bug's exception shows)."""
    return f"{type(err).__name__}: {err}".strip().splitlines()[0]
