"""The command's side of long runs and of the JAX it runs on (the library never does any of this).

* the host loop of a training command: checkpoints in ``--out``, ``history.jsonl``,
  TensorBoard, and what Ctrl-C says;
* ``attnjax plot`` of a run still going or interrupted (``progress.png``);
* JAX's persistent compilation cache (``--compile-cache``), per user and machine;
* the workaround for a jaxlib release known to compute wrong numbers, set before JAX starts.

Nothing here imports JAX at module level: building the parser stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, cast

from .errors import ConfigError, DataError
from .files import HISTORY_FILE

if TYPE_CHECKING:
    from .loop import HostLoop

    class CliHostLoop(HostLoop):
        """For the type checker: the HostLoop `host_loop` returns, with what it attaches."""

        watchers: list
        interrupted_note: Callable[[], str]

#: jaxlib releases known to compute wrong numbers on CPU, and XLA's flag that avoids it: 0.10.2's
#: YNNPACK fusion gets "vmap a matrix-vector product, then reduce" wrong (jax-ml/jax#39103).
#: pyproject.toml excludes them; the command still applies the flag should one be installed.
KNOWN_WRONG_JAXLIB = ("0.10.2",)
XLA_WORKAROUND = "--xla_cpu_experimental_ynn_fusion_type="


def guard_known_wrong_release(jaxlib_version: str | None = None) -> bool:
    """Before JAX starts: on a known-wrong jaxlib, add `XLA_WORKAROUND` to ``XLA_FLAGS``.

    Returns:
        Whether the flag was added (only the command does this: it is global state).
    """
    if jaxlib_version is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            jaxlib_version = version("jaxlib")
        except PackageNotFoundError:
            return False
    flags = os.environ.get("XLA_FLAGS", "")
    if jaxlib_version not in KNOWN_WRONG_JAXLIB or "ynn_fusion_type" in flags:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {XLA_WORKAROUND}".strip()
    return True


def host_loop(args, info, configs: dict, runs_each: int) -> "CliHostLoop":
    """A training command's host loop: checkpoints in ``--out``, ``history.jsonl``, TensorBoard.

    Before the first epoch, ``--overwrite`` removes the earlier run's checkpoints and history,
    and the file list names the live files, so that a run killed at any point can be
    resumed (``--resume``) or replaced (``--overwrite``).
    """
    from .checkpoint import Checkpoints
    from .files import CHECKPOINTS, earlier_run, remove_earlier_run, write_manifest
    from .loop import EpochChunks, HostLoop
    from .paradigms import hyper_of
    from .runlog import HistoryLog, TensorBoardLog

    out = args.out
    if args.resume:
        _check_checkpoint_folder(out / CHECKPOINTS)
    listed = earlier_run(out) or [] if (args.overwrite or args.resume) else []
    if args.overwrite:
        remove_earlier_run(out, keep=[p.name for p in listed if p.name not in (CHECKPOINTS, HISTORY_FILE)])
    paradigms = {}
    for name, config in configs.items():
        paradigms[name] = {"epochs": config.epochs, "loss": config.loss}
        if "switch_epoch" in hyper_of(config):
            switch = getattr(args, "switch_epoch", None)
            paradigms[name]["switch_epoch"] = config.default_switch_epoch if switch is None else switch
    header = {"command": args.command, "seeds": runs_each, "data": info.to_json(), "paradigms": paradigms}
    listing = []

    def list_live_files(name, end):  # once, before the first file of the run is written
        if not listing:
            out.mkdir(parents=True, exist_ok=True)
            listing.append(write_manifest(out, [*listed, out / HISTORY_FILE, out / CHECKPOINTS]))

    history = HistoryLog(out / HISTORY_FILE, header, resume=args.resume)
    watchers = [list_live_files, history]
    if getattr(args, "tensorboard", None) is not None:
        watchers.append(TensorBoardLog(args.tensorboard, focus=info.has_truth))

    def resumed(run, snapshot, path) -> None:  # a paradigm's checkpoint is read back: its history, and say so
        list_live_files(None, None)
        history.restore(run.name, snapshot, run.settings)
        from tqdm.auto import tqdm

        tqdm.write(f"attnjax: note: --resume: {resume_note(run, snapshot, path)}", file=sys.stderr)

    every = args.checkpoint_every
    checkpoints = Checkpoints(out / CHECKPOINTS, every=every, resume=args.resume, command=args.command,
                              on_resume=resumed)

    def on_chunk(name, end) -> None:
        for watch in watchers:
            watch(name, end)

    host = cast("CliHostLoop", HostLoop(epochs=EpochChunks(every=every or None), checkpoints=checkpoints,
                                        on_chunk=on_chunk, seed_map=args.seed_map))
    host.watchers = watchers
    host.interrupted_note = lambda: _interrupted_note(args, checkpoints)
    return host


def _check_checkpoint_folder(folder: Path) -> None:
    """``--resume``: ``folder`` must be a folder of folders (a file is refused); say so if it holds no checkpoint.

    Raises:
        DataError: ``folder``, or an entry of it, is a file.
    """
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--resume: {folder} is a file, not the folder of an interrupted run's checkpoints: "
                        "remove it, or start over (--overwrite)")
    files = sorted(p for p in folder.iterdir() if not p.is_dir()) if folder.is_dir() else []
    if files:
        raise DataError(f"--resume: {files[0]} is a file, not a paradigm's folder of checkpoints: remove it, or "
                        "start over (--overwrite)")
    if not folder.is_dir() or not any(p.name.startswith("step-") for p in folder.glob("*/*")):
        print(f"attnjax: note: --resume: no checkpoint in {folder}: training from the first epoch", file=sys.stderr)


def resume_note(run, snapshot, path) -> str:
    """Where a resumed paradigm continues: ``soft continues at epoch 7 of 12, from PATH``."""
    import math

    epochs, seeds = run.settings["config"]["epochs"], run.settings["seeds"]
    if snapshot is None:
        return f"{run.name}: no checkpoint in {run.folder}, so it trains from epoch 1"
    n_chunks = math.ceil(seeds / snapshot.chunk_size)
    if snapshot.seed_chunk >= n_chunks:
        return f"{run.name} finished in its checkpoint {path}: not trained again"
    where = f"epoch {snapshot.epoch + 1} of {epochs}"
    if n_chunks > 1:
        first = snapshot.seed_chunk * snapshot.chunk_size
        stop = min(first + snapshot.chunk_size, seeds)
        where += f" of seeds {first}-{stop - 1} (seed chunk {snapshot.seed_chunk + 1} of {n_chunks})"
    return f"{run.name} continues at {where}, from its checkpoint {path}"


def close_watchers(host) -> None:
    for watch in getattr(host, "watchers", []):
        if hasattr(watch, "close"):
            watch.close()


def _interrupted_note(args, checkpoints) -> str:
    """What Ctrl-C leaves, and the command that continues the run."""
    import shlex

    argv = [a for a in getattr(args, "argv", []) if a not in ("--resume", "--overwrite")]
    again = "attnjax " + " ".join(shlex.quote(a) for a in argv) + " --resume"
    if not checkpoints.written and not checkpoints.folder.is_dir():
        return (f"interrupted before the first checkpoint (without --checkpoint-every, a run checkpoints once "
                f"it has trained {checkpoints.auto_seconds / 60:g} minutes); {args.out / HISTORY_FILE} holds the "
                f"epochs so far, and no result was saved")
    newest = (f"newest: {checkpoints.written[-1][0]}, step {checkpoints.written[-1][1]}" if checkpoints.written
              else "written by an earlier session")
    return (f"interrupted; the checkpoints in {checkpoints.folder} stay ({newest}) and "
            f"{args.out / HISTORY_FILE} holds the epochs so far; continue with: {again}")


def is_unfinished(path: Path) -> bool:
    """A run folder with a live history and no result file (or the history file itself)."""
    from .files import RESULT_FILES

    if path.name == HISTORY_FILE:
        return True
    return path.is_dir() and (path / HISTORY_FILE).is_file() and not any((path / n).is_file() for n in RESULT_FILES)


def plot_progress(history: Path, folder: Path) -> int:
    """``progress.png`` of a run still going or interrupted, from its ``history.jsonl``."""
    from .files import RESULT_FILES, earlier_run, write_manifest
    from .plots import plot_progress
    from .runlog import history_document, history_status, read_history

    header, histories = read_history(history)
    if not histories:
        raise DataError(f"{history}: no epoch has finished yet")
    status = history_status(header, histories, finished=any((folder / n).is_file() for n in RESULT_FILES))
    path = plot_progress(history_document(header, histories), folder, status)
    listed = earlier_run(folder)
    if listed is not None and path not in listed:  # a later --overwrite or finished run removes it
        write_manifest(folder, [*listed, path])
    print(f"{status}\nwrote {path}")
    return 0


def compile_cache_folder() -> Path:
    """The default persistent-cache folder: per user (under ``$XDG_CACHE_HOME`` or ``~/.cache``) and per
    machine (its host name and ``/etc/machine-id``), since compiled CPU code is specific to the machine."""
    import hashlib
    import platform

    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = platform.machine() + platform.processor()
    tag = hashlib.sha256(f"{platform.node()}|{machine}".encode()).hexdigest()[:12]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "attnjax" / f"jax-{platform.node() or 'host'}-{tag}"


def use_compile_cache(args) -> None:
    """Turn on JAX's persistent compilation cache (``--compile-cache``; the library never does)."""
    choice = getattr(args, "compile_cache", "off")
    if choice == "off":
        return
    folder = Path(choice) if choice is not None else compile_cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--compile-cache {folder}: cannot create it ({err.strerror or err})") from None
    import jax

    args.compile_cache = str(folder)  # the result files record the folder in use
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
