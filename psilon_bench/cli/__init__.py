"""The command line: the `psilon-bench` dispatcher (`main`), the Hydra app behind `run`
(`hydra_app`, `invoke`), `datasets`, shell completion, one-line error reports
(`error_lines`), and the process's start-up and signals.

The top of the import order: may import every other part of the package, lazily, so that
`psilon-bench --help` loads neither torch nor Hydra. Nothing in the package imports it.
"""
