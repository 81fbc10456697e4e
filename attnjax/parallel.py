"""Many seeds past one device: shard the seed axis over a device mesh, in chunks.

`run_seeds` runs ``jax.jit(jax.vmap(train, in_axes=(0, 0, None)))`` with the
seed axis of ``keys`` and ``hparams`` split over a one-dimensional
`jax.sharding.Mesh` whose axis is named ``"seeds"``, and the data set
replicated on every device. Each device trains its own seeds; the program needs no
communication between devices, because seeds never interact.

Two kinds of padding keep one compiled program:

* the seed count is padded up to a multiple of the device count (the mesh must
  split it evenly);
* with ``chunk_size``, the seeds run ``chunk_size`` at a time (rounded up to a
  multiple of the device count), every chunk with the same shapes, so the program
  is compiled once and reused; the last chunk is padded.

Padding rows repeat the last real seed's key and hyper-parameters (so they train
an ordinary, finite run) and are stripped from the result.

A seed's run is the same function of its key and hyper-parameters whatever else
is in the batch, so results do not depend on the chunk size, and depend on the
device count only in the last bits: with more than one device XLA compiles an
SPMD-partitioned module (``num_partitions > 1``), whose optimisation passes treat a
few floating-point operations differently from the one-device module (for
instance a division kept where the one-device program multiplies by a
reciprocal), so parameters can differ by an ulp or two. ``tests/test_parallel.py``
checks chunking on one device bitwise and several devices to 1e-6.

Multi-host: under ``jax.distributed.initialize()``, ``jax.devices()`` lists every
process's devices, so the default mesh spans all hosts. Every process must call
`run_seeds` with the same arguments (the same keys, hyper-parameters and
data) and use every device (the default); each process places only the shards its
own devices hold, its devices train their seeds, and the results are all-gathered
so that every process returns the full [`TrainResult`][attnjax.train.TrainResult]. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import math
import re
import resource
import sys
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .errors import ConfigError, OutOfMemoryError
from .train import Hyper, TrainResult

__all__ = [
    "SEED_AXIS", "seed_mesh", "run_seeds", "PeakMemory", "peak_memory", "available_memory",
    "smaller_chunk", "run_fitting_memory", "out_of_memory_message",
]

#: The mesh axis the seed dimension is split over.
SEED_AXIS = "seeds"

TrainFn = Callable[[jax.Array, Hyper, Any], TrainResult]


# jax.Device is jaxlib's compiled class, which ships no stubs: the type checker sees a variable (the ignores below)
def _pick_devices(devices: int | Sequence[jax.Device] | None) -> list[jax.Device]:  # pyright: ignore[reportInvalidTypeForm]
    available = jax.devices()
    if devices is None:
        return list(available)
    if not isinstance(devices, (int, np.integer)):
        chosen = list(devices)
        if not chosen:
            raise ConfigError("the device list is empty")
        return chosen
    n = int(devices)
    if n < 1:
        raise ConfigError(f"the number of devices must be positive, got {n}")
    if n > len(available):
        platform = available[0].platform
        hint = (
            " (on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts"
            " to split the host into N devices)"
            if platform == "cpu" else ""
        )
        raise ConfigError(
            f"{n} devices requested but only {len(available)} {platform} device(s) exist{hint}"
        )
    return list(available[:n])


def seed_mesh(devices: int | Sequence[jax.Device] | None = None) -> Mesh:  # pyright: ignore[reportInvalidTypeForm]
    """A one-dimensional mesh over ``devices`` (a count, a list, or None for all) named "seeds".

    Raises:
        ConfigError: when more devices are requested than exist (or a count below 1).
    """
    return Mesh(np.array(_pick_devices(devices)), (SEED_AXIS,))


def _program(train: TrainFn, mesh: Mesh) -> Callable:
    """``jit(vmap(train))`` with the seed axis split over ``mesh``, built once per `run_seeds` call
    and reused by every chunk of it."""
    seeds = NamedSharding(mesh, PartitionSpec(SEED_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.jit(jax.vmap(train, in_axes=(0, 0, None)), in_shardings=(seeds, seeds, replicated),
                   out_shardings=seeds)


def _global_array(x, sharding: NamedSharding) -> jax.Array:
    """Place a host array (the same on every process) onto ``sharding``.

    ``make_array_from_callback`` asks each process only for the shards its own
    devices hold, so this also works when the mesh spans several hosts.
    """
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    if isinstance(x, jax.Array) and jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(x)
        data = _global_array(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=impl)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _to_host(tree) -> Any:
    """NumPy copies of a (possibly multi-host) result: every process gets every seed."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def _seed_count(keys) -> int:
    shape = keys.shape
    if not shape:
        raise ConfigError("keys must have a leading seed axis, e.g. jax.random.split(key, S)")
    return int(shape[0])


def run_seeds(
    train: TrainFn,
    keys: jax.Array,
    hparams: Hyper,
    data: Any,
    *,
    devices: int | None = None,
    chunk_size: int | None = None,
    between_chunks: Callable[[], None] | None = None,
) -> TrainResult:
    """Train S seeds with their seed axis sharded over devices, optionally in chunks.

    Arguments:
        train: ``train(key, hparams, data) -> TrainResult`` from
            [`attnjax.train.make_train`][] (pure; not yet vmapped or jitted).
        keys: ``[S]`` typed PRNG keys (``jax.random.split(jax.random.key(0), S)``)
            or ``[S, 2]`` raw uint32 keys.
        hparams: a [`Hyper`][attnjax.train.Hyper] whose leaves have a leading seed
            axis of length S (``Hyper.tile(S, lr)``; a learning-rate grid is just
            another value per seed). Scalar leaves are broadcast to S.
        data: the data set pytree (replicated on every device).
        devices: how many devices to use, the first ``devices`` of
            ``jax.devices()``; default all of them (across all hosts under
            ``jax.distributed``).
        chunk_size: seeds per program call. Default: all S at once. Rounded up
            to a multiple of the device count. Use it when S seeds do not fit in
            memory; the chunks run one after another through one compiled program.
        between_chunks: called after each chunk has finished, before the next starts (the
            chunks then run strictly one after another, not overlapped with copying out).

    Returns:
        A [`TrainResult`][attnjax.train.TrainResult] of NumPy arrays, each with a leading
        seed axis of length S (padding removed), as ``jax.device_get`` of
        ``jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, hparams, data)``.

    Raises:
        ConfigError: more devices requested than exist, a count below 1, no seeds,
            a non-positive chunk size, or hyper-parameters whose seed axis is not S.
    """
    if jax.process_count() > 1 and devices is not None and devices != len(jax.devices()):
        raise ConfigError(
            f"with {jax.process_count()} processes, run_seeds uses every device of every host "
            f"({len(jax.devices())}); got devices={devices}"
        )
    mesh = seed_mesh(devices)
    n_dev = mesh.devices.size
    n_seeds = _seed_count(keys)
    if n_seeds < 1:
        raise ConfigError("need at least one seed")
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")

    def per_seed(x):
        x = np.asarray(x)
        if x.ndim == 0:
            return np.broadcast_to(x, (n_seeds,))
        if x.shape[0] != n_seeds:
            raise ConfigError(
                f"hyper-parameters must have a leading seed axis of {n_seeds}, got shape {x.shape}"
            )
        return x

    hparams = jax.tree_util.tree_map(per_seed, hparams)
    chunk = n_seeds if chunk_size is None else min(chunk_size, n_seeds)
    chunk = n_dev * math.ceil(chunk / n_dev)
    n_chunks = math.ceil(n_seeds / chunk)

    program = _program(train, mesh)
    seed_sharding = NamedSharding(mesh, PartitionSpec(SEED_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    data = jax.tree_util.tree_map(lambda x: _global_array(x, replicated), data)
    pieces, pending = [], None

    def fetch(out, real):
        return jax.tree_util.tree_map(lambda x: x[:real], _to_host(out))

    for c in range(n_chunks):
        # Rows of this chunk; past the end, repeat the last real seed (padding).
        rows = np.minimum(np.arange(c * chunk, (c + 1) * chunk), n_seeds - 1)
        chunk_keys = _global_array(keys[rows], seed_sharding)
        chunk_hparams = jax.tree_util.tree_map(
            lambda x, rows=rows: _global_array(x[rows], seed_sharding), hparams
        )
        if pending is not None and between_chunks is not None:  # the previous chunk finishes first
            pieces.append(fetch(*pending))
            pending = None
            between_chunks()
        out = program(chunk_keys, chunk_hparams, data)  # dispatched asynchronously
        if pending is not None:  # copy the previous chunk out while this one runs
            pieces.append(fetch(*pending))
        pending = (out, min(chunk, n_seeds - c * chunk))
    assert pending is not None  # n_seeds >= 1, so there was a chunk
    pieces.append(fetch(*pending))
    if len(pieces) == 1:
        return pieces[0]
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)


class PeakMemory(NamedTuple):
    """Peak memory so far.

    Attributes:
        bytes: the largest peak over the devices, or the process's peak
            resident set size when devices report no statistics (CPU).
        source: ``"device"`` (``Device.memory_stats()['peak_bytes_in_use']``)
            or ``"rss"`` (``resource.getrusage``; covers host memory of the
            whole process, JAX's CPU buffers included).
        per_device: peak bytes of each device (empty for ``"rss"``).
    """

    bytes: int
    source: str
    per_device: tuple[int, ...] = ()

    def __str__(self) -> str:
        where = "per device, max" if self.source == "device" else "process max RSS"
        return f"{self.bytes / 2**20:.1f} MiB ({where})"


def peak_memory(devices: Sequence[jax.Device] | None = None) -> PeakMemory:  # pyright: ignore[reportInvalidTypeForm]
    """Peak memory use: each device's peak where it reports one, else the process's max RSS.

    Arguments:
        devices: the devices to ask (default: this process's local devices).
    """
    devices = jax.local_devices() if devices is None else list(devices)
    peaks = []
    for device in devices:
        try:
            stats = device.memory_stats()
        except Exception:  # some backends raise instead of returning None
            stats = None
        if not stats or "peak_bytes_in_use" not in stats:
            peaks = []
            break
        peaks.append(int(stats["peak_bytes_in_use"]))
    if peaks:
        return PeakMemory(max(peaks), "device", tuple(peaks))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return PeakMemory(int(rss) * scale, "rss")


def available_memory(device: jax.Device | None = None) -> int | None:  # pyright: ignore[reportInvalidTypeForm]
    """Bytes free for new buffers: the device's limit minus its use; on the host the least of
    MemAvailable, the cgroup's memory limit less its use, and the address-space limit less
    this process's mappings."""
    device = jax.local_devices()[0] if device is None else device
    assert device is not None  # (the type checker cannot see jax.Device's type, so it keeps None)
    try:
        stats = device.memory_stats()
    except Exception:
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    limits = [x for x in (_meminfo("/proc/meminfo", "MemAvailable:"), _cgroup_free(), _address_space_free())
              if x is not None]
    return min(limits) if limits else None


def _meminfo(path: str, field: str) -> int | None:
    """A ``field: N kB`` line of a /proc file, in bytes."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_free() -> int | None:
    """What this process's cgroup (v2) still allows, if it sets a memory limit."""
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        if limit == "max":
            return None
        return int(limit) - int(open("/sys/fs/cgroup/memory.current").read())
    except (OSError, ValueError):
        return None


def _address_space_free() -> int | None:
    """What ``ulimit -v`` / ``prlimit --as`` still allows this process to map."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = _meminfo("/proc/self/status", "VmSize:")
    return None if used is None else soft - used


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err)


def smaller_chunk(err: BaseException, chunk: int) -> tuple[int, str] | None:
    """After an out-of-memory error training ``chunk`` seeds at once, a chunk that should fit.

    XLA's message names the allocation that failed ("Out of memory allocating N
    bytes"). Memory grows about linearly with the seeds of a program, so the
    new chunk is ``chunk * 0.5 * available / N`` (half the free memory, for
    the buffers XLA did not mention), or half the old chunk without those
    numbers.

    Returns:
        ``(new_chunk, sentence)``, or None if ``err`` is not an out-of-memory
        error.

    Raises:
        OutOfMemoryError: the chunk was already one seed.
    """
    if not _is_out_of_memory(err):
        return None
    if chunk <= 1:
        raise OutOfMemoryError("out of memory training even one seed at a time") from None
    match = re.search(r"allocating (\d+) bytes", str(err))
    need, free = (int(match.group(1)) if match else None), available_memory()
    if need and free:
        new = int(chunk * 0.5 * free / need)
        why = (f"{chunk} seeds at once needed {need / 2**30:.1f} GiB with {free / 2**30:.1f} GiB free; "
               f"trained them in chunks of {max(1, min(new, chunk // 2))} (the chunk size)")
    else:
        new = chunk // 2
        why = f"out of memory with {chunk} seeds at once; trained them in chunks of {max(1, new)} (the chunk size)"
    return max(1, min(new, chunk // 2)), why


def run_fitting_memory(run: Callable[[int | None], Any], seeds: int, chunk_size: int | None, *,
                       plan: Callable[[], tuple[int, str] | None] | None = None, retry: bool = True,
                       on_chunk: Callable[[str, int], None] | None = None) -> tuple[Any, int | None]:
    """``run(chunk_size)``, in chunks that fit in memory.

    Arguments:
        run: trains every seed, all at once (None) or in chunks of the given size.
        seeds: S, the number of seeds ``run`` trains.
        chunk_size: the caller's chunk size (None: all at once).
        plan: called first, before anything runs: ``(chunk, sentence)`` when all seeds at once
            would not fit (``attnjax.experiments.memory_plan``), or None.
        retry: when XLA still runs out of memory, retry with the chunk
            `smaller_chunk` picks from its message (else the error propagates).
        on_chunk: told ``(sentence, chunk)`` whenever a chunk size is chosen here.

    Returns:
        ``(run's result, the chunk size used)``.
    """
    def chosen(decision):
        chunk, why = decision
        if on_chunk is not None:
            on_chunk(why, chunk)
        return chunk

    if plan is not None:
        decision = plan()
        if decision is not None:
            chunk_size = chosen(decision)
    while True:
        try:
            return run(chunk_size), chunk_size
        except Exception as err:  # XLA's out-of-memory error has no class of its own
            decision = smaller_chunk(err, seeds if chunk_size is None else chunk_size) if retry else None
            if decision is None:
                raise
            chunk_size = chosen(decision)


def out_of_memory_message(err: BaseException) -> str | None:
    """A one-line explanation if ``err`` is XLA running out of memory, else None."""
    if not _is_out_of_memory(err):
        return None
    first = next((line.strip() for line in str(err).splitlines() if "RESOURCE_EXHAUSTED" in line), "")
    return (
        "out of memory" + (f" ({first[:160]})" if first else "")
        + "; train the seeds in smaller chunks, or fewer seeds"
    )
