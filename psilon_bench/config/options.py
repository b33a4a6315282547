"""The options of each config group as a user sees them: Hydra's lists without the
structured-config schemas (`base_mlp`, `base_weightnorm`, ...) that the YAMLs extend
(`defaults: [base_mlp, _self_]`) but nobody should pick."""

from __future__ import annotations

from typing import Any

from psilon_bench.config import SCHEMAS
from psilon_bench.errors import ConfigError

SCHEMA_NAMES = frozenset(name for group, name in SCHEMAS if group is not None)


def _loader() -> Any:
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader()


def _groups(loader: Any, parent: str = "") -> list[str]:
    found = []
    for name in loader.list_groups(parent):
        group = f"{parent}/{name}" if parent else name
        if group != "hydra":
            found += [group, *_groups(loader, group)]
    return found


def group_options(loader: Any = None) -> dict[str, list[str]]:
    """Group -> its selectable options (the packaged conf/ and any --config-dir), sorted."""
    loader = loader or _loader()
    options = {}
    for group in sorted(_groups(loader)):
        names = [o for o in loader.get_group_options(group) if o not in SCHEMA_NAMES]
        if names:
            options[group] = sorted(names)
    return options


def groups_help() -> str:
    """The `== Configuration groups ==` block of `psilon-bench run --help` (a resolver)."""
    return "\n".join(f"{g}: {', '.join(o)}" for g, o in group_options().items())


def check_choices(cfg: Any) -> None:
    """Refuse a schema picked as an option (`model=base_mlp`), as Hydra refuses unknown ones."""
    choices = cfg.hydra.runtime.choices if "hydra" in cfg else {}
    for group, choice in choices.items():
        if choice in SCHEMA_NAMES:
            allowed = ", ".join(group_options().get(group, []))
            raise ConfigError(f"{group}={choice} is not an option of '{group}'; allowed: {allowed}")
