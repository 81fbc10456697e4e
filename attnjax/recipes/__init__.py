"""Recipes: one TOML file per experiment of the paper, at the paper's settings.

A recipe is a ``--config`` file (``attnjax.cli_options.apply_config_file``) with
one extra table, ``[recipe]``::

    [recipe]
    command = "signature"          # the attnjax command it is for (required)
    summary = "one line"           # what it runs (required)
    needs = "..."                  # optional: files the user must supply
    cpu_seconds_per_seed = 1200.0  # optional: wall time of one seed of the whole recipe
    cpu = "AMD EPYC, 2 cores"      #   (every paradigm), on the CPU named here
    measured = "..."               # optional: where that number comes from ("estimate: ..."
                                   #   is shown as an estimate)
    gpu_seconds_per_seed = 60.0    # optional: the same on the GPU named in gpu
    gpu = "NVIDIA H200"

Every other key is a long option of ``command``. The files live in this
package's folder; ``recipes/`` at the top of the checkout links to it, so
``attnjax signature --config recipes/NAME.toml`` runs one, and ``attnjax recipes``
lists them with the budget and estimated cost per seed.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path

from attnjax.errors import ConfigError

__all__ = ["Recipe", "RECIPE_KEYS", "check_recipe_table", "load_recipes", "resolve",
           "steps_per_seed", "recipes_table"]

#: The keys of a ``[recipe]`` table, and whether each is required.
RECIPE_KEYS = {"command": True, "summary": True, "needs": False, "cpu_seconds_per_seed": False,
               "cpu": False, "measured": False, "gpu_seconds_per_seed": False, "gpu": False}

#: Options whose default is the protocol's, and the `Protocol` field
#: that holds it (``epochs`` of fixed-focus runs: ``fixed_focus_epochs``).
PROTOCOL_FIELDS = {"n_train": "n_train", "n_test": "n_test", "batch_size": "batch_size", "epochs": "epochs",
                   "lr": "learning_rate", "momentum": "momentum", "bg_replacement": "bg_replacement",
                   "pixel_range": "pixel_range", "classifier_init": "classifier_init",
                   "signature_s_y": "signature_s_y", "hybrid_reset": "hybrid_reset",
                   "fg_first": "fixed_focus_fg_first"}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One recipe file: its name, ``[recipe]`` table and options."""

    name: str
    path: Path
    meta: dict
    options: dict


def check_recipe_table(table: object, command: str | None, *, source: str) -> None:
    """Check a ``[recipe]`` table, and that it is for ``command``.

    Raises:
        ConfigError: a missing or unknown key, a wrong type, or another command.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [recipe] must be a table")
    for key, required in RECIPE_KEYS.items():
        if required and key not in table:
            raise ConfigError(f"{source}: [recipe] lacks {key!r}")
    for key, value in table.items():
        if key not in RECIPE_KEYS:
            raise ConfigError(f"{source}: [recipe] has unknown key {key!r} (known: {', '.join(RECIPE_KEYS)})")
        want = (int, float) if key.endswith("_per_seed") else str
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(f"{source}: [recipe] {key} must be {'a number' if want is not str else 'a string'}")
    if command is not None and table["command"] != command:
        raise ConfigError(f"{source} is a recipe for 'attnjax {table['command']}', not '{command}'")


def _folder() -> Path:
    return Path(str(resources.files(__name__)))


def load_recipes() -> list[Recipe]:
    """Every recipe of this package, in name order, its ``[recipe]`` table checked."""
    out = []
    for path in sorted(_folder().glob("*.toml")):
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"recipe {path}: not valid TOML: {err}") from None
        meta = table.pop("recipe", None)
        check_recipe_table(meta, None, source=str(path))
        out.append(Recipe(name=path.stem, path=path, meta=meta, options=table))
    return out


def resolve(recipe: Recipe, *extra: str) -> dict:
    """The options recipe ``recipe`` runs with, each default the protocol's resolved.

    Parsed by the command's own parser, as ``attnjax COMMAND --config FILE *extra`` would
    be, then every option whose default is the protocol's (`PROTOCOL_FIELDS`) takes
    the protocol's value. Nothing is loaded or compiled.

    Arguments:
        recipe: one of `load_recipes`.
        *extra: more command-line words (the user's ``--data-dir``, say).

    Returns:
        ``{option dest: value}``.

    Raises:
        ConfigError: a recipe its command does not accept.
    """
    from attnjax.cli import build_parser
    from attnjax.cli_options import apply_config_file
    from attnjax.protocol import get_protocol

    parser = build_parser()
    argv = [recipe.meta["command"], "--config", str(recipe.path), *extra]
    apply_config_file(parser, argv)
    args = vars(parser.parse_args(argv))
    args.pop("func", None)
    if "protocol" in args:
        protocol = get_protocol(args["protocol"]).for_data(args.get("dataset") == "text")  # text: its own budget
        for dest, field in PROTOCOL_FIELDS.items():
            if dest in ("n_train", "n_test") and args.get("dataset") == "text":
                continue  # a post file's own split, or the synthetic task's sizes
            if dest in args and args[dest] is None:
                if dest == "epochs" and recipe.meta["command"] == "fixed-focus":
                    field = "fixed_focus_epochs"
                args[dest] = getattr(protocol, field)
    return args


def steps_per_seed(recipe: Recipe) -> int | None:
    """SGD steps of one seed of the recipe: every paradigm (and alpha) summed.

    None for a recipe that trains nothing, or whose training set is the user's file.
    """
    from attnjax.protocol import get_protocol

    args = resolve(recipe)
    if "losses" not in args or args["n_train"] is None:
        return None  # no training, or as many posts as the user's file has
    per_epoch = args["n_train"] // args["batch_size"]
    alphas = len(args.get("alphas") or [None])
    protocol = get_protocol(args["protocol"])
    total = 0
    for loss in args["losses"]:
        epochs = args["epochs"]
        if loss == "hybrid":
            phases = args.get("hybrid_epochs")
            epochs = protocol.hybrid_schedule(epochs, args.get("switch_epoch"), tuple(phases) if phases else None)[0]
        total += epochs * per_epoch * alphas
    return total


def _seconds(value: float | None) -> str:
    if value is None:
        return "not measured"
    if value >= 7200:
        return f"{value / 3600:.0f} h"
    return f"{value / 60:.0f} min" if value >= 90 else f"{value:.0f} s"


def recipes_table() -> str:
    """``attnjax recipes``: name, command, steps, measured cost per seed and what to supply."""
    rows = [("recipe", "command", "steps per seed", "CPU per seed", "GPU per seed", "needs")]
    for r in load_recipes():
        steps = steps_per_seed(r)
        cpu = _seconds(r.meta.get("cpu_seconds_per_seed"))
        if "cpu_seconds_per_seed" in r.meta and r.meta.get("measured", "").startswith("estimate"):
            cpu = "est. " + cpu
        if "cpu" in r.meta and "cpu_seconds_per_seed" in r.meta:
            cpu += f" ({r.meta['cpu']})"
        gpu = _seconds(r.meta.get("gpu_seconds_per_seed"))
        if "gpu" in r.meta and "gpu_seconds_per_seed" in r.meta:
            gpu += f" ({r.meta['gpu']})"
        rows.append((r.name, r.meta["command"], ("-" if "losses" not in r.options else "your file's") if steps is None else f"{steps:,}", cpu, gpu,
                     r.meta.get("needs", "-")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    summaries = [f"  {r.name}: {r.meta['summary']}" + (f"\n    cost: {r.meta['measured']}" if "measured" in r.meta else "")
                 for r in load_recipes()]
    return "\n".join(lines + ["", "run one: attnjax COMMAND --config recipes/NAME.toml (the folder "
                               f"{_folder()}); options given after it win", "", *summaries])
