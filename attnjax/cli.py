"""The ``attnjax`` command: options in, one experiment, report out.

This is the only place that turns errors into one-line messages, sets the
matplotlib backend, or handles signals. Every option is checked before any
data is loaded or any program compiled.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from .cli_options import (
    SWEEP_GRID_OPTIONS, Parser, add_config_option, add_data_options, add_out, add_save_attention, add_train_options,
    apply_config_file, check_applicable,
    check_devices, check_grid, check_out, check_paths, hybrid_epochs_note,
)
from .cli_options import _alpha_list, _int_at_least, _list_of, _seed
from .errors import AttnjaxError, ConfigError, DataError, OutOfMemoryError
from .cli_runs import (close_watchers, guard_known_wrong_release, host_loop, is_unfinished, plot_progress,
                       use_compile_cache)
from .files import HISTORY_FILE
from .protocol import FIXED_FOCUS_ALPHAS, SIGNATURE_CONVENTIONS, get_protocol

#: Exit status of a run that finished but had a paradigm diverge.
EXIT_DIVERGED = 1
#: Exit status after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def _version() -> str:
    import jax

    from . import __version__

    return f"attnjax {__version__} (jax {jax.__version__})"


def build_parser() -> Parser:
    parser = Parser(
        prog="attnjax",
        description="Learning dynamics of soft, hard and latent-variable attention (Vashisht & Ramaswamy, ECAI 2023).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.commands = sub.choices  # name -> subparser, for --config

    p = sub.add_parser("compare", help="train soft, hard, LVML and hybrid attention on many seeds")
    add_data_options(p)
    add_train_options(p)
    add_save_attention(p)
    add_out(p, "runs/compare", long_runs=True)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("signature", help="train the paradigms and draw the paper's (a_z, s_y) signature heatmaps")
    add_data_options(p)
    add_train_options(p)
    p.add_argument("--signature-s-y", choices=SIGNATURE_CONVENTIONS, default=None,
                   help="s_y convention the picture shows; the JSON has both (default: the protocol's)")
    add_save_attention(p)
    add_out(p, "runs/signature", long_runs=True)
    p.set_defaults(func=cmd_signature)

    p = sub.add_parser("fixed-focus", help="freeze the focus at several alphas and train only the classifier")
    add_data_options(p)
    add_train_options(p, fixed_focus=True)
    p.add_argument("--alphas", type=_alpha_list, default=list(FIXED_FOCUS_ALPHAS),
                   help=f"foreground attention values in (0, 1] (default: {','.join(map(str, FIXED_FOCUS_ALPHAS))})")
    p.add_argument("--fg-first", action=argparse.BooleanOptionalAction, default=None,
                   help="put the foreground at position 0 (default: the protocol's)")
    add_out(p, "runs/fixed-focus", long_runs=True)
    p.set_defaults(func=cmd_fixed_focus)

    p = sub.add_parser("sweep", help="a grid of learning rates, momenta, switch epochs or init scales, "
                                     "times seeds: one compiled program per loss")
    add_data_options(p)
    add_train_options(p, sweep=True)
    add_out(p, "runs/sweep", long_runs=True)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("estimators", help="bias, variance and cost of the sampled hard-attention gradients "
                                          "against the exact one, for several m")
    p.add_argument("--ms", type=_list_of(_int_at_least(2, "an at-least-2"), "segment counts"), default=[5, 20, 100],
                   help="segments per example to test (default: 5,20,100)")
    p.add_argument("--draws", type=_int_at_least(2, "an at-least-2", 10**7), default=2000,
                   help="sampled gradients per estimator and m, at least 2 for a variance (default: %(default)s)")
    p.add_argument("--seed", type=_seed, default=0, help="default: %(default)s")
    add_out(p, "runs/estimators")
    p.set_defaults(func=cmd_estimators)

    p = sub.add_parser("plot", help="redraw a run's figures from its JSON file")
    p.add_argument("run", type=Path, help="a run folder, or its result file (results.json, signature.json, "
                                          "fixed_focus.json, sweep.json or estimators.json)")
    p.add_argument("--x", choices=("epoch", "step", "flow-time"), default="epoch", dest="x_axis",
                   help="the curves' x axis: epochs, minibatch steps, or flow time sum lr / (1 - momentum) "
                        "(SGD only); other than epoch writes curves-step.png or curves-flow-time.png (with --paired: "
                        "paired-A-B-METRIC-step.png, ...-flow-time.png) "
                        "(default: %(default)s)")
    p.add_argument("--paired", type=_pair, default=None, metavar="A,B",
                   help="instead, draw the paired difference A - B over seeds with its 95%% t-interval "
                        "(paired-A-B-METRIC.png)")
    p.add_argument("--metric", choices=("a_z", "entropy", "a_z_half", "focus_accuracy", "accuracy"), default=None,
                   help="with --paired: the test metric to difference (default: a_z)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("verify", help="check the gradient-flow theory: ODEs, closed forms, gradient descent")
    add_config_option(p)
    add_out(p, "runs/verify")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("recipes", help="list the paper's experiments as recipes (--config files), with their "
                                       "budget and measured cost per seed")
    p.set_defaults(func=cmd_recipes)
    return parser


def _progress_factory(quiet: bool = False):
    """``factory(name, total) -> callback`` driving one tqdm bar per paradigm.

    ``total`` counts epochs times the number of chunks the seeds run in, so a
    chunked run fills its bar once, at the end.
    """
    from tqdm.auto import tqdm

    state: dict[str, Any] = {"bar": None}

    def factory(name: str, total: int):
        if state["bar"] is not None:
            state["bar"].close()
        state.update(bar=tqdm(total=total, desc=f"{name:>6}", unit="epoch", disable=quiet, leave=True,
                              mininterval=1.0, file=sys.stderr, dynamic_ncols=True))

        def on_epoch(epoch):  # once per epoch and chunk (attnjax.experiments.train_seeds)
            state["bar"].update(1)

        def reset(new_total: int):  # the seeds are now trained in chunks
            state["bar"].reset(total=new_total)

        def note(text: str):  # said at once, above the bar (also listed at the end)
            state["bar"].write(f"attnjax: note: {name}: {text}", file=sys.stderr)

        on_epoch.reset = reset
        on_epoch.note = note
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
    """Build the data set (its errors name their settings in ``field``; `error_line` names the options)."""
    from .data import load_dataset

    return load_dataset(
        args.dataset, m=args.m, n_train=args.n_train, n_test=args.n_test, fg=args.fg, bg=args.bg,
        seed=args.seed, data_dir=args.data_dir, num_classes=args.classes, protocol=args.protocol,
        bg_replacement=args.bg_replacement, pixel_range=args.pixel_range, m_range=args.m_range,
        data_file=args.data_file, max_len=args.max_len,
        fg_first=_fg_first(args) if fixed_focus else None,
    )


def _fg_first(args) -> bool:
    return get_protocol(args.protocol).fixed_focus_fg_first if args.fg_first is None else args.fg_first


def _train_options(args) -> dict:
    options = dict(
        epochs=args.epochs, batch_size=args.batch_size, hidden=args.hidden, model=args.model,
        classifier_init=args.classifier_init, optimizer=args.optimizer, precision=args.precision, conv=args.conv,
        encoder=args.encoder, encoder_width=args.encoder_width, heads=args.heads, layers=args.layers,
        momentum=args.momentum if not isinstance(args.momentum, list) else None,
        eval_every=args.eval_every, eval_mosaics=args.eval_mosaics,
    )
    if getattr(args, "hybrid_epochs", None) is not None:
        soft, second = args.hybrid_epochs
        options.update(hybrid_epochs=(soft, second))
    for name, option in (("hybrid_to", "hybrid_to"), ("hybrid_reset", "hybrid_reset"), ("samples", "samples"),
                         ("sample_replace", "sample_replace"), ("baseline_decay", "baseline_decay")):
        if getattr(args, name, None) is not None:
            options[option] = getattr(args, name)
    return options


def _seeds(n: int) -> str:
    return f"{n} seed{'s' * (n != 1)}"


def _announce(data, info, what: str) -> None:
    from .plots import unit_of

    unit = unit_of(info.to_json())
    shape = (f"{info.num_classes} classes {list(info.class_names)}, up to {info.m} tokens a post" if unit == "posts"
             else f"{info.num_classes} classes {list(info.class_names)}, up to {info.m} segments of shape "
                  f"{tuple(info.segment_shape)} a bag" if unit == "bags"
             else f"{info.num_classes} foreground classes {list(info.class_names)}, m = {info.m}")
    print(f"{info.name}: {shape}, {data.train.index.shape[0]} train / {data.test.index.shape[0]} test {unit}; {what}",
          file=sys.stderr)


def _train_paradigms(args, experiment, *, fixed_focus: bool = False, **kwargs):
    """Check everything, load data, then run ``experiment`` with one progress bar per paradigm."""
    from .experiments import paradigm_configs

    check_applicable(args)
    check_out(args)
    check_devices(args)
    data, info = _load_data(args, fixed_focus=fixed_focus)
    _check_truth(args, info)
    _checkpoint()
    options = _train_options(args)
    extra = {name: getattr(args, name) for name in ("switch_epoch", "init_scale", "temperature")
             if getattr(args, name, None) is not None}
    # every paradigm's config is checked (batch size against the data, say) before anything runs
    configs = paradigm_configs(data, info, args.losses, protocol=args.protocol, fixed_focus=fixed_focus or None,
                               **options)
    _check_models(configs)
    _announce(data, info, f"{_seeds(args.seeds)} per loss, protocol {args.protocol}, one compiled program each")
    if hybrid_epochs_note(args):
        print(f"attnjax: note: {hybrid_epochs_note(args)}", file=sys.stderr)
    runs_each = args.seeds * len(kwargs.get("alphas", [None]))
    progress, host = _progress_factory(), host_loop(args, info, configs, runs_each)
    _ON_INTERRUPT[:] = [host.interrupted_note]
    try:
        runs = _run_interruptible(lambda: experiment(
            data, info, losses=args.losses, seeds=args.seeds, protocol=args.protocol, learning_rate=args.lr,
            seed=args.seed, progress=progress, devices=args.devices, chunk_size=args.chunk_size,
            keep_diverged=True, host=host, **extra, **kwargs, **options,
        ))
    finally:
        progress.close()
        close_watchers(host)
    return data, info, runs


#: Why a command cannot run on data without truth (a bags file without 'truth').
_NEEDS_TRUTH = {"signature": "bins the attention on the truth segments (a_z)",
                "fixed-focus": "freezes the attention on a truth segment"}


def _check_truth(args, info) -> None:
    """signature and fixed-focus read the truth: refuse data without one (before anything compiles)."""
    if not info.has_truth and args.command in _NEEDS_TRUTH:
        raise DataError(f"--data-file {args.data_file}: no 'truth' key; {args.command} {_NEEDS_TRUTH[args.command]}, "
                        "so it needs one ('attnjax compare' trains without it)")


def _check_models(configs) -> None:
    """Build each paradigm's modules (no tracing): a model that cannot take the segments (``--model cnn``
    on a bags file of vectors) is one line before any progress bar."""
    from .focus import config_modules

    for config in configs.values():
        config_modules(config)


def _attention_files(args, data, info, runs):
    """With --save-attention: ``write(out) -> [paths]`` of ``attention.npz`` (and ``attention.png``), else None."""
    if not getattr(args, "save_attention", False):
        return None
    from .attention import attention_maps, save_attention
    from .experiments import finished

    done = finished(runs)
    if not done:
        print("attnjax: note: --save-attention: no paradigm finished, so no attention.npz", file=sys.stderr)
        return None
    maps = attention_maps(done, data, info)
    return lambda out: save_attention(out, maps, data, info)


def _write_run(out: Path, write, *, live: bool = False) -> list[Path]:
    """Replace the earlier run's files in ``out`` (with --overwrite) by what ``write()`` writes, then list them.

    With ``live`` (a training command), ``history.jsonl`` stays and is listed, and the
    checkpoints are removed once everything else is written.
    """
    from .files import CHECKPOINTS, remove_earlier_run, write_manifest

    remove_earlier_run(out, keep=[HISTORY_FILE, CHECKPOINTS] if live else [])

    def stamps():
        return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} if out.is_dir() else {}

    before, written = stamps(), []

    def listing():  # what the file list names: the files written, and the live ones still there
        return written + [out / name for name in ([HISTORY_FILE, CHECKPOINTS] if live else []) if (out / name).exists()]

    try:
        write(written)
    except BaseException:
        # A later file failed (a full disk): list every file this run did write, the figures
        # drawn before the failure included, so that a later --overwrite removes them too.
        written += [out / name for name, stamp in stamps().items()
                    if before.get(name) != stamp and not name.endswith(".tmp")]
        raise
    finally:
        if written:
            write_manifest(out, listing())
    if live and (out / CHECKPOINTS).is_dir():  # the results are written: the checkpoints have served
        import shutil

        shutil.rmtree(out / CHECKPOINTS)
        write_manifest(out, listing())
    return written


def _finish(args, runs, doc: dict, json_name: str, table: str, note: str, texts: dict | None = None,
            more=None) -> int:
    """Print the table, write the JSON and ``texts`` ({name: content}), then the plots, then ``more(out)``'s
    files (the attention maps)."""
    from . import report
    from .files import write_json_atomic, write_text_atomic
    from .parallel import peak_memory

    print()
    print(table)
    print(note)
    memory = peak_memory()
    doc["peak_memory"] = {"bytes": memory.bytes, "source": memory.source}

    def write(written):
        written.append(write_json_atomic(args.out / json_name, doc))
        for name, text in (texts or {}).items():
            written.append(write_text_atomic(args.out / name, text))
        if any(doc.get(k) for k in ("results", "heatmaps", "rows")):
            written.extend(report.plot_any(doc, args.out))
        if more is not None:
            written.extend(more(args.out))

    report_path, *plots = _write_run(args.out, write, live=True)
    from .experiments import finished as finished_runs

    finished = finished_runs(runs)
    timings = ", ".join(f"{n} {r.compile_seconds:.1f}s + {r.train_seconds:.1f}s" for n, r in finished.items())
    print(f"\ntime (compile + train): {timings or 'no paradigm finished'}; peak memory: {memory}")
    print(f"wrote {report_path}" + "".join(f", {p}" for p in plots))
    for r in finished.values():
        for note in getattr(r, "notes", []):
            print(f"attnjax: note: {r.config.loss}: {note}", file=sys.stderr)
    for warning in doc.get("warnings", []):
        print(f"attnjax: warning: {warning}", file=sys.stderr)
    diverged = doc.get("diverged", {})
    for name, where in diverged.items():
        print(f"attnjax: {name} diverged: loss {where['loss']} at seed {where['seed']}, epoch {where['epoch']} "
              f"({_divergence_hint(args)}); its results were not saved", file=sys.stderr)
    return EXIT_DIVERGED if diverged else 0


def _divergence_hint(args) -> str:
    """What to change after a divergence: the init scale if it is far from 1, else the learning rate."""
    scales = args.init_scale if isinstance(args.init_scale, list) else [args.init_scale or 1.0]
    far = [s for s in scales if not 0.1 <= abs(s) <= 10]
    if far:
        return (f"--init-scale {far[0]:g} multiplies every initial parameter: try one closer to 1, "
                "or a smaller --lr")
    if args.dataset == "bags":  # the file's features can be of any scale (bags.MAX_VALUE bounds them)
        return ("try a smaller --lr; if the file's features are far from unit scale, standardise them: the first "
                "loss is of their order whatever the learning rate")
    return "try a smaller --lr"


def _with_theory(doc: dict) -> dict:
    """On the paper's simple setting (orthogonal data, linear models, SGD), the reduced gradient flow at the run's
    flow times, per paradigm (`analytic.run_theory`); other documents are returned as they are."""
    if doc["config"]["data"].get("name") != "orthogonal":
        return doc
    from analytic.run_theory import attach_theory

    return attach_theory(doc)


def cmd_compare(args) -> int:
    from . import report
    from .experiments import compare

    data, info, runs = _train_paradigms(args, compare)
    doc = _with_theory(report.compare_results_json(report.settings_json(args, info, runs), runs))
    return _finish(args, runs, doc, "results.json", report.compare_table(doc["results"]),
                   report.compare_footnote(doc), more=_attention_files(args, data, info, runs))


def cmd_signature(args) -> int:
    from . import report
    from .experiments import compare, signature

    data, info, runs = _train_paradigms(args, compare)
    shown = args.signature_s_y or get_protocol(args.protocol).signature_s_y
    from .experiments import finished

    signatures = {name: signature(r, data) for name, r in finished(runs).items()}
    doc = _with_theory(report.signature_json(report.settings_json(args, info, runs, signature_s_y=shown),
                                             signatures, runs))
    table = "\n\n".join([report.compare_table(doc["results"]), report.compare_footnote(doc),
                          report.signature_table(doc)])
    return _finish(args, runs, doc, "signature.json", table, report.signature_footnote(doc),
                   more=_attention_files(args, data, info, runs))


def cmd_fixed_focus(args) -> int:
    from . import report
    from .experiments import fixed_focus

    data, info, runs = _train_paradigms(args, fixed_focus, fixed_focus=True, alphas=args.alphas)
    doc = report.fixed_focus_json(report.settings_json(args, info, runs, alphas=args.alphas), runs,
                                  args.alphas, args.seeds)
    if doc["config"]["data"].get("name") == "orthogonal":
        from analytic.run_theory import attach_fixed_focus_theory

        doc = attach_fixed_focus_theory(doc)
    return _finish(args, runs, doc, "fixed_focus.json", report.fixed_focus_table(doc),
                   report.fixed_focus_footnote(doc))


def cmd_sweep(args) -> int:
    from . import report
    from .sweep import rows_to_csv, sweep, sweep_rows

    check_applicable(args)
    check_grid(args)
    check_out(args)
    check_devices(args)
    data, info = _load_data(args)
    grid = {name: getattr(args, option) for name, option in SWEEP_GRID_OPTIONS.items()
            if getattr(args, option) is not None}
    options = _train_options(args)
    _announce(data, info, f"a grid of {' x '.join(str(len(v)) for v in grid.values()) or '1'} points x "
              f"{_seeds(args.seeds)} per loss, one compiled program each")
    from .experiments import paradigm_configs

    configs = paradigm_configs(data, info, args.losses, protocol=args.protocol, **options)
    _check_models(configs)
    points_each = math.prod(len(v) for v in grid.values())
    progress, host = _progress_factory(), host_loop(args, info, configs, points_each * args.seeds)
    _ON_INTERRUPT[:] = [host.interrupted_note]
    try:
        points, runs = _run_interruptible(lambda: sweep(
            data, info, grid=grid, losses=args.losses, seeds=args.seeds, protocol=args.protocol, seed=args.seed,
            progress=progress, devices=args.devices, chunk_size=args.chunk_size, host=host, **options,
        ))
    finally:
        progress.close()
        close_watchers(host)
    rows = sweep_rows(points, runs, args.seeds, focus=info.has_truth)
    settings = report.settings_json(args, info, runs)
    doc = report.sweep_json(settings, grid, points, runs, rows, args.seeds)
    code = _finish(args, runs, doc, "sweep.json", report.sweep_table(doc),
                   "(final epoch, mean ± std over seeds; every run is a row of sweep.csv)",
                   texts={"sweep.csv": rows_to_csv(rows)})
    print(f"compiled programs per loss: {doc['compiled_programs']}; sweep.csv has {len(rows)} rows")  # written above
    return code


def cmd_estimators(args) -> int:
    from tqdm.auto import tqdm

    from .estimators import ESTIMATORS, check_fits, draw_bytes, estimator_diagnostics, estimator_table, plot_estimators
    from .files import write_json_atomic

    check_out(args)
    check_fits(args.ms)
    sizes = ", ".join(f"{draw_bytes(m) / 2**20:.3g} MiB at m = {m}" for m in args.ms)
    print(f"estimators: m in {args.ms}, {args.draws} draws each; memory per sampled gradient, estimated from the "
          f"sizes: {sizes}", file=sys.stderr)
    bar = tqdm(total=len(args.ms) * len(ESTIMATORS), desc="estimators", unit="estimator", file=sys.stderr,
               dynamic_ncols=True)

    def progress(event: str, text: str) -> None:
        if event == "done":
            bar.update(1)
        else:
            bar.write(f"attnjax: {text}", file=sys.stderr)

    try:
        doc = _run_interruptible(lambda: estimator_diagnostics(ms=tuple(args.ms), num_draws=args.draws,
                                                               seed=args.seed, progress=progress))
    finally:
        bar.close()
    doc = {"kind": "estimators", "config": {"command": "estimators", **doc["settings"], "ms": args.ms}, **doc}

    def write(written):
        written.append(write_json_atomic(args.out / "estimators.json", doc))
        plot_estimators(doc, args.out / "estimators.png")
        written.append(args.out / "estimators.png")

    path, _ = _write_run(args.out, write)
    print(estimator_table(doc))
    print("(bias: |mean of the sampled gradients − exact| / |exact|, with its Monte Carlo noise floor; variance: "
          "mean squared deviation / |exact|²; cost ratio: time of one jitted step / the exact step's, same run)")
    print(f"wrote {path}, {args.out / 'estimators.png'}")
    return 0


def _pair(text: str) -> tuple[str, str]:
    """``A,B``: two paradigm names for ``attnjax plot --paired``."""
    import argparse

    names = [n.strip() for n in text.split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise argparse.ArgumentTypeError(f"expected two different paradigms as A,B, got {text!r}")
    return names[0], names[1]


def cmd_plot(args) -> int:
    from . import report
    from .files import load_results
    from .plots import ClockError, plot_paired

    path = args.run
    folder = path if path.is_dir() else path.parent
    if args.metric is not None and args.paired is None:
        raise ConfigError("--metric applies only with --paired A,B")
    if is_unfinished(path):
        if args.paired is not None or args.x_axis != "epoch":
            raise ConfigError(f"{path}: --paired and --x need a finished run's result file; this run is unfinished")
        return plot_progress(path if not path.is_dir() else path / HISTORY_FILE, folder)
    doc = load_results(path, warn=lambda line: print(f"attnjax: warning: {line}", file=sys.stderr))
    try:
        if args.paired is not None:
            plots = [plot_paired(doc, folder, args.paired, metric=args.metric or "a_z", x_axis=args.x_axis)]
        else:
            plots = report.plot_any(doc, folder, x_axis=args.x_axis)
    except (ClockError, DataError) as err:
        raise DataError(f"{path}: {err}", field=getattr(err, "field", None),
                        remedy=getattr(err, "remedy", None)) from None
    print("wrote " + ", ".join(str(p) for p in plots))
    return 0


def cmd_verify(args) -> int:
    from analytic.verify import format_table, run_verify

    from .files import remove_earlier_run, write_manifest

    check_out(args)
    remove_earlier_run(args.out)
    result = _run_interruptible(lambda: run_verify(args.out))
    write_manifest(args.out, [args.out / "verify.json", *result.get("plots", [])])
    print(format_table(result["checks"]))
    failed = [c["name"] for c in result["checks"] if not c["passed"]]
    print(f"\nwrote {args.out / 'verify.json'}" + "".join(f", {p}" for p in result.get("plots", [])))
    if failed:
        print(f"attnjax: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_recipes(args) -> int:
    from .recipes import recipes_table

    print(recipes_table())
    return 0


#: The options that name a path, by dest, and whether the command reads or writes there.
PATH_OPTIONS = {"data_file": ("--data-file", "read"), "data_dir": ("--data-dir", "read"),
                "tensorboard": ("--tensorboard", "write"), "compile_cache": ("--compile-cache", "write"),
                "out": ("--out", "write")}


def _os_error_line(args, err: OSError) -> str:
    """An OSError in one line, naming the option whose path it is about (none if it is no option's)."""
    reason = err.strerror or str(err)
    if not err.filename:
        return reason
    where = Path(os.path.abspath(err.filename))
    for dest, (option, verb) in PATH_OPTIONS.items():
        value = getattr(args, dest, None)
        if value in (None, "off"):
            continue
        given = Path(os.path.abspath(value))
        if where == given or given in where.parents:
            return f"{option}: cannot {verb} {err.filename}: {reason}"
    return f"cannot use {err.filename}: {reason}"


def memory_advice(args) -> str:
    """``"; use a smaller ..."``, what to make smaller after a refusal for memory: only the options
    that apply to this data ("" for a command without training data)."""
    if not hasattr(args, "dataset"):
        return ""
    text_file = args.dataset == "text" and args.data_file is not None
    options = ["--batch-size"]
    if text_file:
        options.append("--max-len (every post is padded to the longest)")
    elif args.dataset != "bags":  # a bags file and a text file decide their own split
        options.append("--n-train")
    if args.model == "transformer":
        options.append("--heads, --layers")
    return f"; use a smaller {', '.join(options)} or model"


#: The option of each setting a library error can name (`attnjax.errors.AttnjaxError`'s ``field`` and
#: ``remedy``): the library's messages name settings in words, and only the command line knows its options.
FIELD_FLAGS = {
    "baseline_decay": "--baseline-decay",
    "batch_size": "--batch-size",
    "bg": "--bg",
    "chunk_size": "--chunk-size",
    "data_dir": "--data-dir",
    "data_file": "--data-file",
    "encoder": "--encoder",
    "fg": "--fg",
    "fg_bg": "--fg/--bg",
    "hybrid_to": "--hybrid-to",
    "learning_rate": "--lr",
    "losses": "--losses",
    "m": "--m",
    "metric": "--metric",
    "m_range": "--m-range",
    "model": "--model",
    "momentum": "--momentum",
    "ms": "--ms",
    "num_classes": "--classes",
    "optimizer": "--optimizer",
    "overwrite": "--overwrite",
    "paired": "--paired",
    "resume": "--resume",
    "samples": "--samples",
    "seeds": "--seeds",
    "switch_epoch": "--switch-epoch",
    "x_axis": "--x",
}


def error_line(err: BaseException) -> str:
    """The one-line message of ``err`` for the command line.

    Its text on one line (cut at 400 characters), led by the option of its ``field`` (``"--lr: the learning
    rate must be ..."``) and ended by that of its ``remedy`` in parentheses, each per `FIELD_FLAGS`; an error
    without them, or with a setting the table does not know, is its text alone.
    """
    text = " ".join(str(err).split())
    text = text if len(text) < 400 else text[:400] + " ..."
    flag = FIELD_FLAGS.get(getattr(err, "field", None) or "")
    remedy = FIELD_FLAGS.get(getattr(err, "remedy", None) or "")
    if remedy is not None and remedy != flag:
        text = f"{text} ({remedy})"
    return text if flag is None else f"{flag}: {text}"


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


#: What to say on Ctrl-C (set once a training command's checkpoints exist): [callable] or [].
_ON_INTERRUPT: list = []


#: XLA's C++ log level the command sets when ``TF_CPP_MIN_LOG_LEVEL`` is unset: fatal messages
#: only. Every program read back from the compilation cache otherwise logs two ERROR lines
#: (``cpu_aot_loader.cc ... could lead to execution errors such as SIGILL``) on the very machine
#: that compiled it: XLA counts two LLVM tuning preferences as CPU features (openxla/xla#44565).
#: Level 2 keeps them. What that check is for, a cache folder filled on another CPU, the command
#: checks itself (`_check_cache_cpu`); XLA's failures still reach the command as exceptions.
XLA_LOG_LEVEL = "3"


def quiet_xla_log() -> bool:
    """Before JAX starts: XLA's C++ log at `XLA_LOG_LEVEL`, unless the user has set
    ``TF_CPP_MIN_LOG_LEVEL`` (``TF_CPP_MIN_LOG_LEVEL=0 attnjax ...`` shows all of it).

    Returns:
        Whether it was set (only the command does this: it is global state).
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = XLA_LOG_LEVEL
    return True


#: The file in a compilation-cache folder that records the CPU features its programs were compiled for.
CACHE_CPU_FILE = "attnjax-cpu-features.txt"


def _cpu_features() -> set[str] | None:
    """This CPU's feature flags (``/proc/cpuinfo``), or None where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.split(":")[0].strip() in ("flags", "Features")), None)
    return None if line is None else set(line.split(":", 1)[1].split())


def _check_cache_cpu(folder: Path) -> str | None:
    """A warning if the cache ``folder`` was filled on a CPU with features this one lacks (its programs
    could stop with SIGILL here: XLA's own check says so in the log the command keeps quiet); else
    record this CPU's features in it, if none are recorded."""
    from .files import write_text_atomic

    here = _cpu_features()
    if here is None:
        return None
    record = folder / CACHE_CPU_FILE
    try:
        there = set(record.read_text().split()) if record.is_file() else None
        if there is None:
            write_text_atomic(record, " ".join(sorted(here)) + "\n")
            return None
    except OSError:
        return None
    missing = sorted(there - here)
    if not missing:
        return None
    return (f"--compile-cache {folder} holds programs compiled on a CPU with features this one lacks "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}): they could stop with an illegal "
            "instruction (SIGILL); give this machine its own --compile-cache folder, or off")


def main(argv: list[str] | None = None) -> int:
    import signal

    if "jax" not in sys.modules:  # XLA reads its flags and log level when JAX starts
        guard_known_wrong_release()
        quiet_xla_log()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = _main(argv)
        _checkpoint()
        return code
    except KeyboardInterrupt:
        # os._exit: no interpreter shutdown while XLA threads may still run.
        note = _ON_INTERRUPT[0]() if _ON_INTERRUPT else "interrupted; nothing was saved"
        print(f"\nattnjax: {note}", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)
    finally:
        if previous is not None:  # in-process callers (tests) get their handler back
            signal.signal(signal.SIGINT, previous)


def _main(argv) -> int:
    parser = build_parser()
    try:
        apply_config_file(parser, argv)
    except ConfigError as err:
        print(f"attnjax: error: {error_line(err)}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(_version())
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    import matplotlib

    matplotlib.use("Agg")  # the CLI draws to files only; library code never sets a backend
    _checkpoint()
    _ON_INTERRUPT.clear()
    try:
        check_paths(args)
        use_compile_cache(args)
        if getattr(args, "compile_cache", "off") not in (None, "off"):
            warning = _check_cache_cpu(Path(args.compile_cache))
            if warning:
                print(f"attnjax: warning: {warning}", file=sys.stderr)
        return args.func(args)
    except OutOfMemoryError as err:
        print(f"attnjax: error: {error_line(err)}{memory_advice(args)}", file=sys.stderr)
        return 2
    except AttnjaxError as err:
        print(f"attnjax: error: {error_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. an output folder that cannot be written
        print(f"attnjax: error: {_os_error_line(args, err)}", file=sys.stderr)
        return 2
    except Exception as err:
        from .parallel import out_of_memory_message

        message = out_of_memory_message(err)
        if message is None:
            raise
        line = error_line(OutOfMemoryError(message, field="chunk_size", remedy="seeds"))
        print(f"attnjax: error: {line}{memory_advice(args)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
