"""Result files: the one path by which attnjax writes and reads JSON, figures and tables.

Every file is written atomically (a temporary file in the same folder, then a
rename), so an interrupted run never leaves a half-written result. Figures are
plain `matplotlib.figure.Figure` objects rendered by the Agg canvas, so
nothing here touches pyplot or the global matplotlib backend.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import DataError, NonFiniteResultError

__all__ = [
    "atomic_write",
    "write_json_atomic",
    "write_text_atomic",
    "new_figure",
    "save_figure_atomic",
    "format_table",
    "load_results",
    "MANIFEST",
    "CHECKPOINTS",
    "HISTORY_FILE",
    "write_manifest",
    "earlier_run",
    "remove_earlier_run",
]


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    Arguments:
        path: the final file; its folder is created if needed.
        write: writes the complete content to the path it is given.

    Returns:
        ``path``. On any exception (KeyboardInterrupt included) the temporary
        file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix + ".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except OSError as err:  # a full disk, say: name the file meant, not the temporary one
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON, atomically.

    NumPy arrays and scalars, dataclasses, tuples and paths are converted.

    Raises:
        NonFiniteResultError: the content holds NaN or infinity (nothing is written).
    """

    def write(tmp: Path):
        try:
            text = json.dumps(obj, indent=1, default=_jsonable, allow_nan=False)
        except ValueError:
            raise NonFiniteResultError(
                f"refusing to write {path}: the results contain NaN or infinity"
            ) from None
        with open(tmp, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file (a CSV table, say) atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def new_figure(**kwargs):
    """A `matplotlib.figure.Figure` with an Agg canvas, independent of pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure_atomic(fig, path: str | Path, **kwargs) -> Path:
    """Render ``fig`` to ``path`` (format from the suffix) through a temporary file."""
    suffix = Path(path).suffix.lstrip(".") or "png"
    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=suffix, **kwargs))


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """A plain-text table with aligned columns.

    Arguments:
        header: column titles.
        rows: one sequence of cells per row (converted with ``str``).
        align: optional ``"l"``/``"r"`` per column (default: all left).
    """
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    align = align or "l" * len(header)

    def line(r):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


#: The largest result or history file read back (the fine clock's longest committed run writes 5 MB).
RESULT_BYTES = 1 << 30


def load_results(path: str | Path, *, warn: Callable[[str], object] | None = None) -> dict:
    """Read a result file written by attnjax (``results.json``, ``signature.json``, ...).

    Arguments:
        path: the JSON file, or a run folder holding exactly one of attnjax's result files.
        warn: called with each line of `attnjax.documents.document_warnings` (what the file
            holds that is drawn but unusual, the file named), if given.

    Returns:
        The document as a dict; lists stay lists (wrap with ``np.asarray`` as needed).

    Raises:
        DataError: the path does not exist, is not JSON, is not an attnjax result, or
            lacks a field its figures read or cannot be drawn (`attnjax.documents.check_document`).
    """
    path = Path(path)
    if path.is_dir():
        found = [path / n for n in RESULT_FILES if (path / n).is_file()]
        if len(found) != 1:
            raise DataError(
                f"{path}: expected one of {', '.join(RESULT_FILES)} in the folder, found "
                f"{len(found) or 'none'}"
            )
        path = found[0]
    from .data.fileio import read_text

    try:  # a regular file (a FIFO never blocks, a device is never read), of a size a result file has
        text = read_text(path, "a result file", limit=RESULT_BYTES)
    except DataError as err:
        if "not UTF-8" not in str(err):
            raise
        raise DataError(f"{path}: not a readable JSON result file ({str(err).removeprefix(f'{path}: ')})") from None
    try:
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON result file ({err})") from None
    except RecursionError:
        raise DataError(f"{path}: not an attnjax result file (its JSON is nested too deeply to read)") from None
    from .documents import check_document, document_warnings

    check_document(doc, path)
    if warn is not None:
        for line in document_warnings(doc, path):
            warn(line)
    return doc


#: The result files the training commands write, one per command.
RESULT_FILES = ("results.json", "signature.json", "fixed_focus.json", "sweep.json", "estimators.json")


#: The file list each command leaves in its output folder: exactly the files that run wrote, so
#: that ``--overwrite`` can replace an earlier run's files, all of them and only those.
MANIFEST = ".attnjax-files.json"


def write_manifest(folder: str | Path, paths: Sequence[str | Path]) -> Path:
    """Record the files a run wrote in ``folder`` (written last, atomically)."""
    folder = Path(folder)
    names = sorted({Path(p).name for p in paths
                    if Path(p).parent.resolve() == folder.resolve() and Path(p).name != MANIFEST})
    return write_json_atomic(folder / MANIFEST, {"written_by": "attnjax", "files": names})


#: The folder of a run's checkpoints inside ``--out``.
CHECKPOINTS = "checkpoints"
#: The live history a training command rewrites after every chunk (`attnjax.runlog`).
HISTORY_FILE = "history.jsonl"


def earlier_run(folder: str | Path) -> list[Path] | None:
    """The files an earlier run recorded in ``folder``'s manifest (None without a readable one)."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    names = doc.get("files") if isinstance(doc, dict) and doc.get("written_by") == "attnjax" else None
    if not isinstance(names, list):
        return None
    # Only plain names in this folder: a manifest never points attnjax elsewhere.
    return [folder / n for n in names if isinstance(n, str) and n and Path(n).name == n and n not in (".", "..")]


def remove_earlier_run(folder: str | Path, *, keep: Sequence[str] = ()) -> list[Path]:
    """Delete the files of the earlier run recorded in ``folder`` (and its manifest); nothing else.

    The one folder a manifest may name is `CHECKPOINTS`, removed with what it holds.

    Arguments:
        keep: names to leave in place (the live history of the run that is writing).

    Returns:
        The files (and checkpoint folder) removed.
    """
    files = earlier_run(folder)
    if files is None:
        return []
    removed = []
    for path in [*files, Path(folder) / MANIFEST]:
        if path.name in keep or path.is_symlink():
            continue
        if path.is_file():
            path.unlink()
            removed.append(path)
        elif path.name == CHECKPOINTS and path.is_dir():
            shutil.rmtree(path)
            removed.append(path)
    return removed
