"""The ``attnjax`` command: options in, one experiment, report out.

This is the only place that turns errors into one-line messages, sets the
matplotlib backend, or handles signals. Every option is checked before any
data is loaded or any program compiled.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from .errors import AttnjaxError, ConfigError
from .protocol import DEFAULT_LOSSES, PARADIGMS, PROTOCOLS, SECOND_PHASES, SIGNATURE_CONVENTIONS, get_protocol

#: Exit status of a run that finished but had a paradigm diverge.
EXIT_DIVERGED = 1
#: Exit status after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def _int_at_least(low: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_natural_int = _int_at_least(0, "non-negative")


def _float_in(valid, what: str):
    """A finite number accepted when ``valid(value)``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or abs(value) == float("inf") or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return parse


_positive_float = _float_in(lambda v: v > 0, "a positive finite number")
_momentum = _float_in(lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
_finite_float = _float_in(lambda v: True, "a finite number")


def _list_of(parse, what: str):
    """A comma-separated list of values, each parsed by ``parse``."""

    def parse_list(text: str) -> list:
        items = [t.strip() for t in str(text).split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
        values = [parse(t) for t in items]
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"a value is listed twice in {text!r}")
        return values

    return parse_list


def _loss_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in PARADIGMS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown loss(es) {', '.join(unknown) or '(none)'}; choose from {', '.join(PARADIGMS)}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a loss is listed twice in {text!r}")
    return names


def _alpha_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"alphas must be in (0, 1], got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"alphas must be distinct, got {text!r}")
    return values


def _pair(parse, valid, what: str, example: str):
    """``A,B`` parsed by ``parse`` and accepted when ``valid(a, b)``."""

    def parse_pair(text: str):
        try:
            a, b = (parse(p) for p in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, e.g. {example}; got {text!r}") from None
        if not valid(a, b):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return a, b

    return parse_pair


_epoch_pair = _pair(int, lambda soft, second: min(soft, second) >= 0 and soft + second >= 1,
                    "SOFT,SECOND non-negative epoch counts with a positive sum", "20,5")
_int_pair = _pair(int, lambda low, high: 2 <= low <= high, "LOW,HIGH integers with 2 <= LOW <= HIGH", "3,8")
_pixel_range = _pair(float, lambda low, high: low < high, "LOW,HIGH with LOW < HIGH", "0,1 or -1,1")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    from .data import DATASETS

    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", choices=DATASETS,
                   help="data set (default: digits, bundled with scikit-learn)")
    g.add_argument("--data-file", type=Path, default=None,
                   help="text only: your JSON file in the HateXplain layout (default: the bundled synthetic task)")
    g.add_argument("--data-dir", default=None,
                   help="folder with your MNIST (IDX) or CIFAR (binary) files, or Fashion-MNIST")
    g.add_argument("--m", type=int, default=None, help="segments per mosaic (default: 5)")
    g.add_argument("--m-range", type=_int_pair, default=None, metavar="LOW,HIGH",
                   help="image data: a varying number of real segments per mosaic, padded and masked to HIGH")
    g.add_argument("--n-train", type=_positive_int, default=None,
                   help="training mosaics (default: the protocol's; orthogonal: one per class)")
    g.add_argument("--n-test", type=_positive_int, default=None,
                   help="test mosaics (default: the protocol's; orthogonal: one per class)")
    g.add_argument("--fg", default=None, help="foreground classes, names or ids, comma-separated")
    g.add_argument("--bg", default=None, help="background classes (default: all others)")
    g.add_argument("--classes", type=_positive_int, default=None,
                   help="orthogonal only: number of classes C (default 20)")
    g.add_argument("--bg-replacement", action=argparse.BooleanOptionalAction, default=None,
                   help="draw a mosaic's backgrounds with replacement (default: the protocol's)")
    g.add_argument("--pixel-range", type=_pixel_range, default=None,
                   help="image pixels scaled to LOW,HIGH (default: the protocol's: 0,1 or -1,1)")


def _add_train_options(p: argparse.ArgumentParser, *, fixed_focus: bool = False, sweep: bool = False) -> None:
    g = p.add_argument_group("training")
    default_losses = "soft,hard,lvml" if fixed_focus else ",".join(DEFAULT_LOSSES)
    # A sweep takes comma-separated lists (a grid axis) where the others take one value.
    many = (lambda parse, what: _list_of(parse, what)) if sweep else (lambda parse, what: parse)
    each = "comma-separated values: a grid axis" if sweep else "one value"
    g.add_argument("--config", type=Path, default=None,
                   help="TOML file of options (keys as the long option names); the command line overrides it")
    g.add_argument("--protocol", choices=tuple(PROTOCOLS), default="attnjax",
                   help="defaults of every option not given: attnjax's own, or the authors' "
                        "code (README: differences from the authors' code) (default: %(default)s)")
    g.add_argument("--losses", type=_loss_list, default=_loss_list(default_losses),
                   help=f"comma-separated paradigms (default: {default_losses})")
    g.add_argument("--seeds", type=_positive_int, default=16, help="seeds per paradigm (default: %(default)s)")
    g.add_argument("--epochs", type=_positive_int, default=None, help="default: the protocol's")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default=None, help="default: sgd")
    g.add_argument("--lr", type=many(_positive_float, "learning rates"), default=None,
                   help=f"learning rate, {each} (default: the protocol's)")
    g.add_argument("--momentum", type=many(_momentum, "momenta"), default=None,
                   help=f"SGD momentum, {each} (default: the protocol's)")
    g.add_argument("--init-scale", type=many(_finite_float, "scales"), default=None,
                   help=f"factor on every initial parameter, {each} (default: 1)")
    g.add_argument("--batch-size", type=_positive_int, default=None, help="default: the protocol's")
    g.add_argument("--model", choices=("linear", "mlp", "cnn", "embed"), default=None,
                   help="model family (default: mlp for digits, cnn for 28x28/32x32 images, linear for orthogonal, "
                        "embed for text)")
    g.add_argument("--hidden", type=_positive_int, default=None, help="MLP hidden width (default: 64)")
    g.add_argument("--classifier-init", choices=("uniform", "xavier"), default=None,
                   help="classifier weight init (default: the protocol's)")
    g.add_argument("--precision", choices=("float32", "tensorfloat32", "bfloat16"), default=None,
                   help="arithmetic of the built-in models' products (default: float32)")
    if not fixed_focus:
        g.add_argument("--switch-epoch", type=many(_natural_int, "epochs"), default=None,
                       help=f"hybrid: epochs of soft attention before switching, {each} (default: epochs/2)")
        g.add_argument("--hybrid-to", choices=SECOND_PHASES, default=None,
                       help="hybrid: paradigm after the switch (default: hard)")
        g.add_argument("--samples", type=_positive_int, default=None,
                       help="hard-reinforce: segments sampled per example (default: 1)")
        g.add_argument("--sample-replace", action=argparse.BooleanOptionalAction, default=None,
                       help="hard-reinforce: sample with replacement (default: yes)")
        g.add_argument("--baseline-decay", type=_momentum, default=None,
                       help="hard-reinforce: moving-average baseline decay (default: 0.9, the authors')")
        g.add_argument("--temperature", type=_positive_float, default=None,
                       help="hard-gumbel: Gumbel-softmax temperature (default: 1)")
        g.add_argument("--hybrid-reset", action=argparse.BooleanOptionalAction, default=None,
                       help="hybrid: fresh optimizer state at the switch (default: the protocol's)")
    if not fixed_focus and not sweep:
        g.add_argument("--hybrid-epochs", type=_epoch_pair, default=None, metavar="SOFT,SECOND",
                       help="hybrid: soft and second-phase epoch counts, given separately")
    g.add_argument("--seed", type=_natural_int, default=0, help="base seed for data and training (default: %(default)s)")
    g.add_argument("--devices", type=_positive_int, default=None,
                   help="shard the seeds over this many devices (default: one program on the default device)")
    g.add_argument("--chunk-size", type=_positive_int, default=None,
                   help="train the seeds in chunks of this many, when all at once do not fit in memory")


def _add_out(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--out", type=Path, default=Path(default), help="output folder (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the result files of an earlier run in --out (refused otherwise)")


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage dump), exit status 2."""

    def error(self, message):
        self.exit(2, f"attnjax: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    import jax

    from . import __version__

    return f"attnjax {__version__} (jax {jax.__version__})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="attnjax",
        description="Learning dynamics of soft, hard and latent-variable attention (Vashisht & Ramaswamy, ECAI 2023).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser.commands = sub.choices  # name -> subparser, for --config

    p = sub.add_parser("compare", help="train soft, hard, LVML and hybrid attention on many seeds")
    _add_data_options(p)
    _add_train_options(p)
    _add_out(p, "runs/compare")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("signature", help="train the paradigms and draw the paper's (a_z, s_y) signature heatmaps")
    _add_data_options(p)
    _add_train_options(p)
    p.add_argument("--signature-s-y", choices=SIGNATURE_CONVENTIONS, default=None,
                   help="s_y convention the picture shows; the JSON has both (default: the protocol's)")
    _add_out(p, "runs/signature")
    p.set_defaults(func=cmd_signature)

    p = sub.add_parser("fixed-focus", help="freeze the focus at several alphas and train only the classifier")
    _add_data_options(p)
    _add_train_options(p, fixed_focus=True)
    p.add_argument("--alphas", type=_alpha_list, default=_alpha_list("0.2,0.4,0.6,0.8,1.0"),
                   help="foreground attention values in (0, 1] (default: 0.2,0.4,0.6,0.8,1.0)")
    p.add_argument("--fg-first", action=argparse.BooleanOptionalAction, default=None,
                   help="put the foreground at position 0 (default: the protocol's)")
    _add_out(p, "runs/fixed-focus")
    p.set_defaults(func=cmd_fixed_focus)

    p = sub.add_parser("sweep", help="a grid of learning rates, momenta, switch epochs or init scales, "
                                     "times seeds: one compiled program per loss")
    _add_data_options(p)
    _add_train_options(p, sweep=True)
    _add_out(p, "runs/sweep")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("estimators", help="bias, variance and cost of the sampled hard-attention gradients "
                                          "against the exact one, for several m")
    p.add_argument("--ms", type=_list_of(_int_at_least(2, "at-least-2"), "segment counts"), default=[5, 20, 100],
                   help="segments per example to test (default: 5,20,100)")
    p.add_argument("--draws", type=_positive_int, default=2000, help="sampled gradients per estimator and m (default: %(default)s)")
    p.add_argument("--seed", type=_natural_int, default=0, help="default: %(default)s")
    _add_out(p, "runs/estimators")
    p.set_defaults(func=cmd_estimators)

    p = sub.add_parser("plot", help="redraw a run's figures from its JSON file")
    p.add_argument("run", type=Path, help="a run folder (or its results.json / signature.json / fixed_focus.json)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("verify", help="check the gradient-flow theory: ODEs, closed forms, gradient descent")
    _add_out(p, "runs/verify")
    p.set_defaults(func=cmd_verify)
    return parser


# ----------------------------------------------------------------------------- checks


def _check_applicable(args) -> None:
    """Refuse options that do not apply to this command and data set (one line, exit 2)."""
    image = args.dataset not in ("orthogonal", "digits", "text")
    text = args.dataset == "text"
    rules = [
        ("--data-file", args.data_file is not None and not text, "applies only to --dataset text"),
        ("--m/--m-range", (args.m is not None or args.m_range is not None) and text,
         "do not apply to --dataset text (a post's tokens are its segments)"),
        ("--fg/--bg", (args.fg is not None or args.bg is not None) and text, "do not apply to --dataset text"),
        ("--pixel-range", args.pixel_range is not None and text, "does not apply to --dataset text"),
        ("--bg-replacement", args.bg_replacement is not None and text, "does not apply to --dataset text"),
        ("--data-dir", args.data_dir is not None and not image,
         f"does not apply to --dataset {args.dataset} (it needs no files)"),
        ("--classes", args.classes is not None and args.dataset != "orthogonal",
         "applies only to --dataset orthogonal"),
        ("--fg/--bg", (args.fg is not None or args.bg is not None) and args.dataset == "orthogonal",
         "do not apply to --dataset orthogonal"),
        ("--pixel-range", args.pixel_range is not None and args.dataset == "orthogonal",
         "does not apply to --dataset orthogonal (its segments are not images)"),
        ("--bg-replacement", args.bg_replacement is not None and args.dataset == "orthogonal",
         "does not apply to --dataset orthogonal (its backgrounds are zero vectors)"),
        ("--hidden", args.hidden is not None and args.model not in (None, "mlp", "embed"),
         f"applies only to --model mlp, not {args.model}"),
    ]
    hybrid = "hybrid" in args.losses
    for option in ("switch_epoch", "hybrid_epochs", "hybrid_to", "hybrid_reset"):
        if getattr(args, option, None) is not None and not hybrid:
            rules.append((f"--{option.replace('_', '-')}", True, "applies only when --losses includes hybrid"))
    second = getattr(args, "hybrid_to", None) if hybrid else None
    for option, paradigm in (("samples", "hard-reinforce"), ("sample_replace", "hard-reinforce"),
                             ("baseline_decay", "hard-reinforce"), ("temperature", "hard-gumbel")):
        if getattr(args, option, None) is not None and paradigm not in args.losses and second != paradigm:
            rules.append((f"--{option.replace('_', '-')}", True, f"applies only when training {paradigm}"))
    for name, bad, why in rules:
        if bad:
            raise ConfigError(f"{name} {why}")
    if getattr(args, "switch_epoch", None) is not None and getattr(args, "hybrid_epochs", None) is not None:
        raise ConfigError("give --switch-epoch or --hybrid-epochs, not both")
    if args.momentum is not None and args.optimizer not in (None, "sgd"):
        raise ConfigError(f"--momentum applies only to --optimizer sgd, not {args.optimizer}")
    if args.m is not None and args.m < 2:
        raise ConfigError(f"--m must be at least 2 segments, got {args.m}")


def _check_out(args) -> None:
    """``--out`` must be a folder we can write, and not hold an earlier run unless --overwrite."""
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: cannot write in {probe}")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise ConfigError(
            f"--out {out} already holds files (an earlier run?); choose another folder or add --overwrite"
        )


# ----------------------------------------------------------------------------- running


def _progress_factory(quiet: bool = False):
    """``factory(name, total) -> callback`` driving one tqdm bar per paradigm.

    ``total`` counts epochs times the number of chunks the seeds run in, so a
    chunked run fills its bar once, at the end.
    """
    from tqdm.auto import tqdm

    state = {"bar": None}

    def factory(name: str, total: int):
        if state["bar"] is not None:
            state["bar"].close()
        state.update(bar=tqdm(total=total, desc=f"{name:>6}", unit="epoch", disable=quiet, leave=True,
                              mininterval=1.0, file=sys.stderr, dynamic_ncols=True),
                     last=None)

        def on_epoch(epoch):
            # Count each epoch once, however many times the callback fires for it.
            epoch = int(epoch)
            if epoch != state["last"]:
                state["last"] = epoch
                state["bar"].update(1)

        def reset(new_total: int):  # the seeds are now trained in chunks
            state["bar"].reset(total=new_total)
            state["last"] = None

        on_epoch.reset = reset
        return on_epoch

    def close():
        if state["bar"] is not None:
            state["bar"].close()
            state["bar"] = None

    factory.close = close
    return factory


def _run_interruptible(fn):
    """Run ``fn()`` in a worker thread so that Ctrl-C is seen at once by the main thread.

    On Ctrl-C the process exits with status 130 without waiting for the compiled
    program (``os._exit``: no interpreter shutdown while XLA threads still run,
    which is what crashed before). Result files are only written after
    training, atomically, so nothing half-written is left.
    """
    box = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the main thread
            box["error"] = err

    _checkpoint()
    worker = threading.Thread(target=work, name="attnjax-train", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
        _checkpoint()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _load_data(args, *, fixed_focus: bool = False):
    from .data import load_dataset

    return load_dataset(
        args.dataset, m=args.m, n_train=args.n_train, n_test=args.n_test, fg=args.fg, bg=args.bg,
        seed=args.seed, data_dir=args.data_dir, num_classes=args.classes, protocol=args.protocol,
        bg_replacement=args.bg_replacement, pixel_range=args.pixel_range, m_range=args.m_range,
        data_file=args.data_file,
        fg_first=_fg_first(args) if fixed_focus else None,
    )


def _fg_first(args) -> bool:
    return get_protocol(args.protocol).fixed_focus_fg_first if args.fg_first is None else args.fg_first


def _train_options(args) -> dict:
    options = dict(
        epochs=args.epochs, batch_size=args.batch_size, hidden=args.hidden, model=args.model,
        classifier_init=args.classifier_init, optimizer=args.optimizer, precision=args.precision,
        momentum=args.momentum if not isinstance(args.momentum, list) else None,
    )
    if getattr(args, "hybrid_epochs", None) is not None:
        soft, second = args.hybrid_epochs
        options.update(hybrid_epochs=(soft, second))
    for name, option in (("hybrid_to", "hybrid_to"), ("hybrid_reset", "hybrid_reset"), ("samples", "samples"),
                         ("sample_replace", "sample_replace"), ("baseline_decay", "baseline_decay")):
        if getattr(args, name, None) is not None:
            options[option] = getattr(args, name)
    return options


def _announce(data, info, what: str) -> None:
    print(
        f"{info.name}: {info.num_classes} foreground classes {list(info.class_names)}, m = {info.m}, "
        f"{data.train.index.shape[0]} train / {data.test.index.shape[0]} test mosaics; {what}",
        file=sys.stderr,
    )


def _train_paradigms(args, experiment, *, fixed_focus: bool = False, **kwargs):
    """Check everything, load data, then run ``experiment`` with one progress bar per paradigm."""
    from .experiments import paradigm_configs

    _check_applicable(args)
    _check_out(args)
    data, info = _load_data(args, fixed_focus=fixed_focus)
    _checkpoint()
    options = _train_options(args)
    extra = {"switch_epoch": args.switch_epoch} if getattr(args, "switch_epoch", None) is not None else {}
    if args.init_scale is not None:
        extra["init_scale"] = args.init_scale
    if getattr(args, "temperature", None) is not None:
        extra["temperature"] = args.temperature
    configs = paradigm_configs(data, info, args.losses, protocol=args.protocol,
                               fixed_focus=fixed_focus or None, **options)
    if extra:
        for config in configs.values():
            if config.loss == "hybrid" and extra["switch_epoch"] > config.epochs:
                raise ConfigError(f"--switch-epoch must be at most --epochs ({config.epochs}), got {extra['switch_epoch']}")
    _announce(data, info, f"{args.seeds} seeds per loss, protocol {args.protocol}, one compiled program each")
    progress = _progress_factory()
    try:
        runs = _run_interruptible(lambda: experiment(
            data, info, losses=args.losses, seeds=args.seeds, protocol=args.protocol, learning_rate=args.lr,
            seed=args.seed, progress=progress, devices=args.devices, chunk_size=args.chunk_size,
            keep_diverged=True, **extra, **kwargs, **options,
        ))
    finally:
        progress.close()
    return data, info, runs


def _finish(args, runs, doc: dict, json_name: str, table: str, note: str) -> int:
    """Print the table, write the JSON, then the plots (a failed plot keeps the JSON)."""
    from . import report
    from .files import write_json_atomic
    from .parallel import peak_memory

    print()
    print(table)
    print(note)
    memory = peak_memory()
    doc["peak_memory"] = {"bytes": memory.bytes, "source": memory.source}
    report_path = write_json_atomic(args.out / json_name, doc)
    plots = report.plot_any(doc, args.out) if any(doc.get(k) for k in ("results", "heatmaps", "rows")) else []
    finished = {name: r for name, r in runs.items() if not getattr(r, "diverged", False)}
    print(f"\ntime (compile + train): {', '.join(f'{n} {r.seconds:.1f}s' for n, r in finished.items())}; "
          f"peak memory: {memory}")
    print(f"wrote {report_path}" + "".join(f", {p}" for p in plots))
    for r in finished.values():
        for note in getattr(r, "notes", []):
            print(f"attnjax: note: {r.config.loss}: {note}", file=sys.stderr)
    for warning in doc.get("warnings", []):
        print(f"attnjax: warning: {warning}", file=sys.stderr)
    diverged = doc.get("diverged", {})
    for name, where in diverged.items():
        print(f"attnjax: {name} diverged: loss {where['loss']} at seed {where['seed']}, epoch {where['epoch']} "
              "(try a smaller --lr); its results were not saved", file=sys.stderr)
    return EXIT_DIVERGED if diverged else 0


def cmd_compare(args) -> int:
    from . import report
    from .experiments import compare

    data, info, runs = _train_paradigms(args, compare)
    doc = report.compare_results_json(report.settings_json(args, info, runs), runs)
    return _finish(args, runs, doc, "results.json", report.compare_table(doc["results"]),
                   report.COMPARE_FOOTNOTE)


def cmd_signature(args) -> int:
    from . import report
    from .experiments import compare, signature

    data, info, runs = _train_paradigms(args, compare)
    shown = args.signature_s_y or get_protocol(args.protocol).signature_s_y
    signatures = {name: signature(r, data) for name, r in runs.items() if not getattr(r, "diverged", False)}
    doc = report.signature_json(report.settings_json(args, info, runs, signature_s_y=shown), signatures, runs)
    return _finish(args, runs, doc, "signature.json", report.signature_table(doc), report.SIGNATURE_FOOTNOTE)


def cmd_fixed_focus(args) -> int:
    from . import report
    from .experiments import fixed_focus

    data, info, runs = _train_paradigms(args, fixed_focus, fixed_focus=True, alphas=args.alphas)
    doc = report.fixed_focus_json(report.settings_json(args, info, runs, alphas=args.alphas), runs,
                                  args.alphas, args.seeds)
    return _finish(args, runs, doc, "fixed_focus.json", report.fixed_focus_table(doc),
                   report.fixed_focus_footnote(doc))


def cmd_sweep(args) -> int:
    from . import report
    from .files import write_text_atomic
    from .sweep import rows_to_csv, sweep, sweep_rows

    _check_applicable(args)
    _check_out(args)
    data, info = _load_data(args)
    grid = {name: values for name, values in (
        ("learning_rate", args.lr), ("momentum", args.momentum), ("switch_epoch", args.switch_epoch),
        ("init_scale", args.init_scale)) if values is not None}
    options = _train_options(args)
    _announce(data, info, f"a grid of {' x '.join(str(len(v)) for v in grid.values()) or '1'} points x "
              f"{args.seeds} seeds per loss, one compiled program each")
    progress = _progress_factory()
    try:
        points, runs = _run_interruptible(lambda: sweep(
            data, info, grid=grid, losses=args.losses, seeds=args.seeds, protocol=args.protocol, seed=args.seed,
            progress=progress, devices=args.devices, chunk_size=args.chunk_size, **options,
        ))
    finally:
        progress.close()
    rows = sweep_rows(points, runs, args.seeds)
    settings = report.settings_json(args, info, runs)
    doc = report.sweep_json(settings, grid, points, runs, rows, args.seeds)
    write_text_atomic(args.out / "sweep.csv", rows_to_csv(rows))
    code = _finish(args, runs, doc, "sweep.json", report.sweep_table(doc),
                   "(final epoch, mean ± std over seeds; every run is a row of sweep.csv)")
    print(f"compiled programs per loss: {doc['compiled_programs']}; wrote {args.out / 'sweep.csv'} "
          f"({len(rows)} rows)")
    return code


def cmd_estimators(args) -> int:
    from .estimators import estimator_diagnostics, estimator_table, plot_estimators
    from .files import write_json_atomic

    _check_out(args)
    print(f"estimators: m in {args.ms}, {args.draws} draws each", file=sys.stderr)
    doc = _run_interruptible(lambda: estimator_diagnostics(ms=tuple(args.ms), num_draws=args.draws, seed=args.seed))
    doc = {"kind": "estimators", "config": {"command": "estimators", **doc["settings"], "ms": args.ms}, **doc}
    path = write_json_atomic(args.out / "estimators.json", doc)
    plot_estimators(doc, args.out / "estimators.png")
    print(estimator_table(doc))
    print("(bias: |mean of the sampled gradients − exact| / |exact|, with its Monte Carlo noise floor; variance: "
          "mean squared deviation / |exact|²; cost ratio: time of one jitted step / the exact step's, same run)")
    print(f"wrote {path}, {args.out / 'estimators.png'}")
    return 0


def cmd_plot(args) -> int:
    from . import report
    from .files import load_results

    path = args.run
    doc = load_results(path)
    folder = path if path.is_dir() else path.parent
    plots = report.plot_any(doc, folder)
    print("wrote " + ", ".join(str(p) for p in plots))
    return 0


def cmd_verify(args) -> int:
    from analytic.verify import format_table, run_verify

    _check_out(args)
    result = _run_interruptible(lambda: run_verify(args.out))
    print(format_table(result["checks"]))
    failed = [c["name"] for c in result["checks"] if not c["passed"]]
    print(f"\nwrote {args.out / 'verify.json'}" + "".join(f", {p}" for p in result.get("plots", [])))
    if failed:
        print(f"attnjax: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:400] + " ..."


#: Set by the SIGINT handler: a Ctrl-C that some library swallowed is still seen at the
#: next checkpoint (the worker-thread wait, or before the command starts).
_INTERRUPTED = threading.Event()


def _on_sigint(signum, frame):
    # Only a flag: raising here could land inside a C extension's import
    # (jaxlib, numpy) and crash the interpreter; the next checkpoint raises.
    _INTERRUPTED.set()


def _checkpoint() -> None:
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = _main(argv)
        _checkpoint()
        return code
    except KeyboardInterrupt:
        # os._exit: no interpreter shutdown while XLA threads may still run.
        print("\nattnjax: interrupted; nothing was saved", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)
    finally:
        if previous is not None:  # in-process callers (tests) get their handler back
            signal.signal(signal.SIGINT, previous)


def _apply_config_file(parser: argparse.ArgumentParser, argv: list[str] | None) -> None:
    """``--config FILE``: a TOML table of options becomes the command's defaults.

    Keys are the long option names (``lr`` or ``--lr``; ``batch-size`` or
    ``batch_size``); a list is a comma-separated value. Options on the command
    line still win. An unknown key or a bad file is a one-line error.
    """
    import tomllib

    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("command", nargs="?")
    pre.add_argument("--config", type=Path, default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config is None:
        return
    sub = parser.commands.get(known.command)
    if sub is None:
        raise ConfigError(f"--config applies only to the training commands, not {known.command!r}")
    try:
        table = tomllib.loads(known.config.read_text())
    except OSError as err:
        raise ConfigError(f"--config {known.config}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"--config {known.config}: not valid TOML ({err})") from None
    dests = {a.dest: a for a in sub._actions if a.option_strings}
    defaults = {}
    for key, value in table.items():
        dest = key.lstrip("-").replace("-", "_")
        if dest not in dests or dest in ("config", "help"):
            raise ConfigError(f"--config {known.config}: unknown option {key!r} for '{known.command}'")
        action = dests[dest]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if action.type is not None and not isinstance(value, bool):
            try:
                value = action.type(str(value))
            except argparse.ArgumentTypeError as err:
                raise ConfigError(f"--config {known.config}: {key}: {err}") from None
        elif action.choices is not None and value not in action.choices:
            raise ConfigError(f"--config {known.config}: {key}: {value!r} is not one of {list(action.choices)}")
        defaults[dest] = value
    sub.set_defaults(**defaults)


def _main(argv) -> int:
    parser = build_parser()
    try:
        _apply_config_file(parser, argv)
    except ConfigError as err:
        print(f"attnjax: error: {_one_line(err)}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.version:
        print(_version())
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    import matplotlib

    matplotlib.use("Agg")  # the CLI draws to files only; library code never sets a backend
    _checkpoint()
    try:
        return args.func(args)
    except AttnjaxError as err:
        print(f"attnjax: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. an output folder that cannot be written
        where = f" ({err.filename})" if err.filename else ""
        print(f"attnjax: error: --out: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except Exception as err:
        from .parallel import out_of_memory_message

        message = out_of_memory_message(err)
        if message is None:
            raise
        print(f"attnjax: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
