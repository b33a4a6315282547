"""One `psilon-bench run` job, end to end: the member grid (`grid`), the config checks
(`checks`), train and evaluate every member and write its records (`experiment`), the
summary it prints (`summary`), resumable sweeps (`sweep`), diverged runs (`outcome`), the
ensembles of members (`ensemble`) and experiment tracking (`tracking`: MLflow, TensorBoard).

May import config, data, models, regularizers, pruning, measure, engine, baselines, records
and report's selection rule and method names; never the command line.
"""
