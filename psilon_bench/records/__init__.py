"""Run records on disk: the folder format and atomic writes (`io`), claiming a run folder
(`rundir`), where a record comes from (`provenance`: config hash, run id, version, git
commit) and checking the output folder before anything is written (`output`).

Imports only `errors`, the root's version and omegaconf: no torch, no Hydra, no models, so
the report layer can read records through it.
"""
