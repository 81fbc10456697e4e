"""The ``attnjax`` command: options in, one experiment, report out.

This is the only place that turns errors into one-line messages.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import AttnjaxError, ConfigError

LOSS_CHOICES = ("soft", "hard", "lvml", "hybrid")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


def _loss_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in LOSS_CHOICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown loss(es) {', '.join(unknown) or '(none)'}; choose from {', '.join(LOSS_CHOICES)}"
        )
    return names


def _alpha_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"alphas must be in (0, 1], got {text!r}")
    return values


def _add_data_options(p: argparse.ArgumentParser, *, m_default: int = 5) -> None:
    from .data import DATASETS

    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", choices=DATASETS,
                   help="data set (default: digits, bundled with scikit-learn)")
    g.add_argument("--data-dir", default=None,
                   help="folder with your MNIST (IDX) or CIFAR (binary) files, or Fashion-MNIST")
    g.add_argument("--m", type=int, default=m_default, help="segments per mosaic (default: %(default)s)")
    g.add_argument("--n-train", type=int, default=None,
                   help="training mosaics (default: 2000; orthogonal: one per class)")
    g.add_argument("--n-test", type=int, default=None,
                   help="test mosaics (default: 1000; orthogonal: one per class)")
    g.add_argument("--fg", default=None, help="foreground classes, names or ids, comma-separated")
    g.add_argument("--bg", default=None, help="background classes (default: all others)")
    g.add_argument("--classes", type=int, default=None,
                   help="orthogonal only: number of classes C (default 20)")


def _add_train_options(p: argparse.ArgumentParser, *, losses: str = "soft,hard,lvml,hybrid") -> None:
    g = p.add_argument_group("training")
    g.add_argument("--losses", type=_loss_list, default=_loss_list(losses),
                   help=f"comma-separated paradigms (default: {losses})")
    g.add_argument("--seeds", type=_positive_int, default=16, help="seeds per paradigm (default: %(default)s)")
    g.add_argument("--epochs", type=_positive_int, default=60, help="default: %(default)s")
    g.add_argument("--lr", type=_positive_float, default=0.01, help="SGD learning rate (default: %(default)s)")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: %(default)s)")
    g.add_argument("--batch-size", type=_positive_int, default=64, help="default: %(default)s")
    g.add_argument("--switch-epoch", type=int, default=None,
                   help="hybrid: epochs of soft attention before switching (default: epochs/2)")
    g.add_argument("--hybrid-to", choices=("hard", "lvml"), default="hard",
                   help="hybrid: loss after the switch (default: %(default)s)")
    g.add_argument("--model", choices=("linear", "mlp", "cnn"), default=None,
                   help="model family (default: mlp for digits, cnn for 28x28/32x32 images, linear for orthogonal)")
    g.add_argument("--hidden", type=_positive_int, default=64, help="MLP hidden width (default: %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="base seed for data and training (default: %(default)s)")
    g.add_argument("--devices", type=_positive_int, default=None,
                   help="shard the seeds over this many devices (default: one program on the default device)")
    g.add_argument("--chunk-size", type=_positive_int, default=None,
                   help="train the seeds in chunks of this many, when all at once do not fit in memory")


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage dump), exit status 2."""

    def error(self, message):
        self.exit(2, f"attnjax: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="attnjax",
        description="Learning dynamics of soft, hard and latent-variable attention (Vashisht & Ramaswamy, ECAI 2023).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("compare", help="train soft, hard, LVML and hybrid attention on many seeds")
    _add_data_options(p)
    _add_train_options(p)
    p.add_argument("--out", type=Path, default=Path("runs/compare"), help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("signature", help="train the paradigms and draw the paper's (a_z, s_y) signature heatmaps")
    _add_data_options(p)
    _add_train_options(p)
    p.add_argument("--out", type=Path, default=Path("runs/signature"), help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_signature)

    p = sub.add_parser("fixed-focus", help="freeze the focus at several alphas and train only the classifier")
    _add_data_options(p)
    _add_train_options(p, losses="soft,hard,lvml")
    p.add_argument("--alphas", type=_alpha_list, default=_alpha_list("0.2,0.4,0.6,0.8,1.0"),
                   help="foreground attention values in (0, 1] (default: 0.2,0.4,0.6,0.8,1.0)")
    p.add_argument("--out", type=Path, default=Path("runs/fixed-focus"), help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_fixed_focus)

    p = sub.add_parser("verify", help="check the gradient-flow theory: ODEs, closed forms, gradient descent")
    p.add_argument("--out", type=Path, default=Path("runs/verify"), help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_verify)
    return parser


def _progress_factory(quiet: bool):
    """Returns ``factory(name, epochs) -> callback`` driving one tqdm bar per paradigm."""
    from tqdm.auto import tqdm

    state = {}

    def factory(name: str, epochs: int):
        if "bar" in state:
            state["bar"].close()
        bar = tqdm(total=epochs, desc=f"{name:>6}", unit="epoch", disable=quiet, leave=True, mininterval=1.0,
                   file=sys.stderr)
        state["bar"] = bar
        state["done"] = 0

        def on_epoch(epoch):
            # Called once per epoch (the epoch index is not batched over seeds).
            epoch = int(epoch)
            if epoch + 1 > state["done"]:
                bar.update(epoch + 1 - state["done"])
                state["done"] = epoch + 1

        return on_epoch

    def close():
        if "bar" in state:
            state["bar"].close()

    factory.close = close
    return factory


def _load_data(args):
    from .data import load_dataset

    return load_dataset(
        args.dataset, m=args.m, n_train=args.n_train, n_test=args.n_test, fg=args.fg, bg=args.bg,
        seed=args.seed, data_dir=args.data_dir, num_classes=args.classes,
    )


def _train_options(args) -> dict:
    return dict(
        epochs=args.epochs, batch_size=args.batch_size, momentum=args.momentum,
        switch_epoch=args.switch_epoch, hybrid_to=args.hybrid_to, hidden=args.hidden,
        **({"model": args.model} if args.model else {}),
    )


def _config_json(args, info) -> dict:
    skip = {"func", "command", "out"}
    config = {k: v for k, v in vars(args).items() if k not in skip}
    config["data"] = info.to_json()
    import jax

    config["jax"] = {"version": jax.__version__, "backend": jax.default_backend(),
                     "devices": len(jax.devices())}
    return config


def _announce(data, info, what: str) -> None:
    print(
        f"{info.name}: {info.num_classes} foreground classes {list(info.class_names)}, m = {info.m}, "
        f"{data.train.index.shape[0]} train / {data.test.index.shape[0]} test mosaics; {what}",
        file=sys.stderr,
    )


def _train_paradigms(args, experiment, **kwargs):
    """Load data, validate, then run ``experiment`` with one progress bar per paradigm."""
    from .experiments import paradigm_configs

    data, info = _load_data(args)
    paradigm_configs(data, info, args.losses, **_train_options(args))  # fail before any output
    _announce(data, info, f"{args.seeds} seeds x {args.epochs} epochs per loss, "
              "one compiled program each")
    progress = _progress_factory(quiet=False)
    try:
        runs = experiment(
            data, info, losses=args.losses, seeds=args.seeds, learning_rate=args.lr, seed=args.seed,
            progress=progress, devices=args.devices, chunk_size=args.chunk_size,
            **kwargs, **_train_options(args),
        )
    finally:
        progress.close()
    return data, info, runs


def _timings(runs) -> str:
    return ", ".join(f"{name} {r.seconds:.1f}s" for name, r in runs.items())


def _finish(args, runs, doc: dict, json_name: str, table: str, note: str, plot) -> int:
    """Print the table, then write the JSON and the plots (JSON first: a failed plot keeps it)."""
    print()
    print(table)
    print(note)
    report_path = args.out / json_name
    from .parallel import peak_memory
    from .report import write_json_atomic

    memory = peak_memory()
    doc["peak_memory"] = {"bytes": memory.bytes, "source": memory.source}
    write_json_atomic(report_path, doc)
    plots = plot()
    plots = plots if isinstance(plots, list) else [plots]
    print(f"\ntime (compile + train, all runs): {_timings(runs)}; peak memory: {memory}")
    print(f"wrote {report_path}, " + ", ".join(str(p) for p in plots))
    return 0


def cmd_compare(args) -> int:
    from . import report
    from .experiments import compare

    data, info, runs = _train_paradigms(args, compare)
    doc = report.compare_results_json(_config_json(args, info), runs)
    return _finish(
        args, runs, doc, "results.json", report.compare_table(doc["results"]),
        "(test metrics in %, mean ± std over seeds, each loss under its own inference rule)",
        lambda: report.plot_compare(doc["results"], args.out, title=f"{info.name}, m = {info.m}"),
    )


def cmd_signature(args) -> int:
    from . import report
    from .experiments import compare, signature

    data, info, runs = _train_paradigms(args, compare)
    signatures = {name: signature(r, data) for name, r in runs.items()}
    doc = report.signature_json(_config_json(args, info), signatures)
    return _finish(
        args, runs, doc, "signature.json", report.signature_table(doc),
        "(test mosaics; a_z: attention on the foreground; s_y: probability of the true label)",
        lambda: report.plot_signature(doc, args.out, title=f"{info.name}, m = {info.m}"),
    )


def cmd_fixed_focus(args) -> int:
    from . import report
    from .experiments import fixed_focus

    data, info, runs = _train_paradigms(args, fixed_focus, alphas=args.alphas)
    doc = report.fixed_focus_json(_config_json(args, info), runs, args.alphas, args.seeds)
    return _finish(
        args, runs, doc, "fixed_focus.json", report.fixed_focus_table(doc),
        "(final epoch, mean over seeds: training loss L(α) / incentive L(α) − L(α + 0.01))",
        lambda: report.plot_fixed_focus(doc, args.out, title=f"{info.name}, m = {info.m}"),
    )


def cmd_verify(args) -> int:
    from analytic.verify import format_table, run_verify

    result = run_verify(args.out)
    print(format_table(result["checks"]))
    failed = [c["name"] for c in result["checks"] if not c["passed"]]
    print(f"\nwrote {args.out / 'verify.json'}" + "".join(f", {p}" for p in result.get("plots", [])))
    if failed:
        print(f"attnjax: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if getattr(args, "m", 2) < 2:
            raise ConfigError(f"--m must be at least 2 segments, got {args.m}")
        for name in ("n_train", "n_test", "classes"):
            value = getattr(args, name, None)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
        return args.func(args)
    except AttnjaxError as err:
        print(f"attnjax: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. an output folder that cannot be written
        print(f"attnjax: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnjax: interrupted; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
