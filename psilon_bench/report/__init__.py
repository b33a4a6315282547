"""The report layer: read records on disk (never models), select members on
validation, tabulate, test across datasets, check claims, draw figures and write the HTML
report. Imports `psilon_bench.records.io`, pandas, scipy, autorank, matplotlib, rich and
PyYAML (claims files, sweep commands) only: never torch, never Hydra. `rules` and
`run_select` (the run summary's selection) import none of them."""

PLOT_KINDS = ("pareto", "lambda-path", "lipschitz", "pruning", "curves")  # `plot --kind`
