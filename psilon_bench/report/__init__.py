"""The report layer: read records on disk (never models), select members on
validation, tabulate, test across datasets and draw figures. Imports `psilon_bench.records.io`,
pandas, scipy, autorank, matplotlib and rich only: never torch, never Hydra. `rules` and
`run_select` (the run summary's selection) import none of them."""

PLOT_KINDS = ("pareto", "lambda-path", "lipschitz", "pruning", "curves")  # `plot --kind`
