"""Reading data files without trusting them: regular files only, and ``.npz`` archives read
member by member with every declared size checked against the file before anything is allocated.

* `open_regular` opens a file for reading only if it is a regular file. A FIFO, a socket
  or a device is refused at once (it is opened non-blocking and checked with ``fstat``, so a
  FIFO without a writer cannot block the reader, even one swapped in after a first check).
* `read_npz` reads the arrays of an ``np.savez`` archive. Each member's ``.npy`` header
  is parsed here (`numpy.lib.format`), and the byte size its shape and dtype declare must
  equal the member's uncompressed size in the zip directory, which in turn is bounded by the
  member's compressed size (a deflate stream expands at most `MAX_DEFLATE_RATIO` times)
  and that by the archive's length. Only then is the array's buffer allocated and filled, from
  the member's own bytes. Nothing is ever unpickled: a dtype holding Python objects is refused.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from ..errors import DataError

__all__ = ["MAX_DEFLATE_RATIO", "open_regular", "read_npz", "read_text"]

#: The most a deflate stream can expand: 258 bytes out of each 2 bits at best, 1032:1 (zlib's
#: technical notes); a deflated member claiming more than this times its compressed size lies.
MAX_DEFLATE_RATIO = 1032
_SLACK = 64  # bytes: the deflate stream's own block headers on a tiny member
_CHUNK = 1 << 20
#: What reading a zip member can raise on damaged bytes (a bad deflate stream, a wrong CRC,
#: a member cut short, an unsupported or encrypted member, undecodable names).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError,
               RuntimeError, ValueError, struct.error, UnicodeDecodeError, OverflowError)


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _brief(err: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:120]


def open_regular(path, what: str = "file", *, label: str | None = None) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symbolic links followed).

    Arguments:
        path: the file.
        what: what the file should be, for the messages (``"an .npz file"``, ``"IDX file"``).
        label: how the messages start; default ``"{path}:"``.

    Returns:
        The open file, in blocking mode; the caller closes it.

    Raises:
        DataError: one line: the file does not exist, is a folder, a FIFO, a socket or a
            device, or cannot be opened.
    """
    head = f"{path}:" if label is None else label
    name = os.fspath(path)
    try:
        mode = os.stat(name).st_mode  # refuse a device before opening it at all
    except FileNotFoundError:
        raise DataError(f"{head} no such file") from None
    except OSError as err:
        raise DataError(f"{head} cannot be read ({err.strerror or err})") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{head} {_kind(mode)}, not a regular file; {what} must be a regular file")
    try:  # non-blocking: opening a FIFO swapped in since the stat cannot wait for a writer
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise DataError(f"{head} cannot be read ({err.strerror or err})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DataError(f"{head} {_kind(mode)}, not a regular file; {what} must be a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path, what: str = "file", *, limit: int, label: str | None = None) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes (`open_regular`, then its size).

    Raises:
        DataError: one line starting with ``label`` (default ``"{path}:"``): not a regular file (a FIFO
            never blocks, a device is never read), larger than ``limit``, unreadable, or not UTF-8.
    """
    head = f"{path}:" if label is None else label
    with open_regular(path, what, label=label) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise DataError(f"{head} {size:,} bytes, more than the {limit:,} that {what} may hold")
        try:
            raw = f.read(limit + 1)
        except OSError as err:
            raise DataError(f"{head} cannot be read ({err.strerror or err})") from None
    if len(raw) > limit:  # grew since the stat
        raise DataError(f"{head} more than the {limit:,} bytes that {what} may hold")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{head} not UTF-8 text (byte {err.start})") from None


def _member_key(name: str) -> str:
    """The array's name of a member, as ``np.load`` gives it (``"labels.npy"`` -> ``"labels"``)."""
    return name[:-4] if name.endswith(".npy") else name


def _check_claims(path, key: str, info: zipfile.ZipInfo, archive_size: int) -> None:
    """The zip directory's sizes of one member, bounded by the archive itself."""
    if info.flag_bits & 0x1:
        raise DataError(f"{path}: key {key!r} is encrypted; np.savez writes plain members")
    if info.compress_size > archive_size:
        raise DataError(f"{path}: key {key!r} claims {info.compress_size} compressed bytes, more than the "
                        f"whole file ({archive_size} bytes): the archive is damaged or truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        most = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        most = MAX_DEFLATE_RATIO * info.compress_size + _SLACK
    else:
        raise DataError(f"{path}: key {key!r} is compressed with zip method {info.compress_type}; np.savez and "
                        "np.savez_compressed write stored or deflated members")
    if info.file_size > most:
        raise DataError(f"{path}: key {key!r} claims {info.file_size} bytes uncompressed from "
                        f"{info.compress_size} compressed, more than its compression can hold: the archive is "
                        "damaged")


def _header(path, key: str, member, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The ``.npy`` header of an open member: ``(shape, fortran_order, dtype)``."""
    if member.read(6) != npy_format.MAGIC_PREFIX:
        raise DataError(f"{path}: key {key!r} is not .npy data (no NumPy array header); "
                        f"{what} holds arrays written by np.savez")
    version = tuple(member.read(2))
    if len(version) < 2:
        raise DataError(f"{path}: key {key!r} has a damaged .npy header (cut short after its magic bytes)")
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:
        raise DataError(f"{path}: key {key!r} has .npy format version {version}; versions (1, 0) and (2, 0) "
                        "are read")
    try:
        shape, fortran_order, dtype = readers[version](member)
    except _ZIP_ERRORS as err:
        raise DataError(f"{path}: key {key!r} has a damaged .npy header ({_brief(err)})") from None
    return tuple(int(d) for d in shape), bool(fortran_order), np.dtype(dtype)


def _read_member(path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int,
                 what: str) -> np.ndarray:
    """One member as an array, after its declared sizes are checked (see the module docstring)."""
    key = _member_key(info.filename)
    _check_claims(path, key, info, archive_size)
    try:
        with archive.open(info) as member:
            shape, fortran_order, dtype = _header(path, key, member, what)
            if dtype.hasobject:
                raise DataError(f"{path}: key {key!r} holds Python objects (it would need unpickling); "
                                "save plain numeric or string arrays")
            if dtype.itemsize == 0:
                raise DataError(f"{path}: key {key!r} has dtype {dtype} of zero-byte items; "
                                "save plain numeric or string arrays")
            count = 1
            for d in shape:
                count *= d  # Python ints: no overflow
            declared = count * dtype.itemsize
            available = info.file_size - member.tell()
            if declared != available:
                state = "truncated" if declared > available else "longer than its header says"
                raise DataError(f"{path}: key {key!r} is {state}: its header declares shape {shape} of {dtype}, "
                                f"{declared} data bytes, and the member holds {available}")
            try:
                buffer = bytearray(declared)
            except MemoryError:
                raise DataError(f"{path}: key {key!r} holds {declared} bytes, more than the memory "
                                "available") from None
            filled = 0
            while filled < declared:
                piece = member.read(min(_CHUNK, declared - filled))
                if not piece:
                    raise DataError(f"{path}: key {key!r} is truncated: {filled} of its {declared} data bytes "
                                    "are present")
                buffer[filled:filled + len(piece)] = piece
                filled += len(piece)
            if member.read(1):
                raise DataError(f"{path}: key {key!r} holds more bytes than its header declares")
    except DataError:
        raise
    except _ZIP_ERRORS as err:
        raise DataError(f"{path}: key {key!r} cannot be read: its bytes are damaged ({_brief(err)})") from None
    try:
        flat = np.frombuffer(buffer, dtype=dtype, count=count)
        if fortran_order:
            return flat.reshape(shape[::-1]).transpose()
        return flat.reshape(shape)
    except ValueError as err:
        raise DataError(f"{path}: key {key!r} has shape {shape}, which NumPy cannot hold ({_brief(err)})") from None


def read_npz(path, *, what: str = "an .npz file", keys=None) -> dict[str, np.ndarray]:
    """Every array of an ``np.savez`` archive, checked before anything is allocated.

    Arguments:
        path: the archive.
        what: what the file should be, for the messages.
        keys: the keys the archive may hold (checked before any member is read); None: any.

    Returns:
        ``{key: array}`` in the archive's order (``np.load``'s keys: a member's name without ``.npy``).

    Raises:
        DataError: one line naming ``path`` (and the key at fault): not a regular file, a single
            ``.npy`` array or not a zip archive, an unknown key, a damaged archive or member, a member that is not
            ``.npy`` data, holds Python objects, or whose header declares another size than the
            member holds.
    """
    with open_regular(path, what) as f:
        magic = f.read(6)
        if magic == npy_format.MAGIC_PREFIX:
            raise DataError(f"{path}: a single .npy array, not an .npz archive of named arrays (np.savez)")
        if not magic.startswith(b"PK"):  # an .npz is a zip file
            raise DataError(f"{path}: not an .npz archive of named arrays (np.savez writes a zip file; "
                            "this is not one)")
        f.seek(0)
        size = os.fstat(f.fileno()).st_size
        try:
            archive = zipfile.ZipFile(f)
        except _ZIP_ERRORS as err:
            raise DataError(f"{path}: not an .npz archive of arrays (np.savez) ({_brief(err)})") from None
        with archive:
            members = archive.infolist()
            names = [_member_key(info.filename) for info in members]
            for i, key in enumerate(names):
                if keys is not None and key not in keys:
                    raise DataError(f"{path}: unknown key {key!r}; {what} holds {', '.join(keys)}")
                if key in names[:i]:
                    raise DataError(f"{path}: key {key!r} appears twice in the archive")
            arrays = {key: _read_member(path, archive, info, size, what) for key, info in zip(names, members)}
    return arrays
