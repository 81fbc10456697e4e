"""The host loop's compiled programs, cached per configuration, seed mapping and argument shapes.

A [`Programs`][attnjax.programs.Programs] object is the cache: pass one to several
[`attnjax.experiments.train_seeds`][] calls to reuse their compiled programs, and read
how often each configuration was traced and how long compiling took. Nothing is cached at
module level, so two callers never share (or cross) state they did not share on purpose.

Each program is compiled ahead of time (``jit(...).lower(...).compile()``), which lets the
caller read XLA's memory analysis before running it and time the compilation on its own.
When JAX's persistent compilation cache is on (the ``attnjax`` command turns it on; the
library never does), ``compile()`` reads from it.

Both programs map one seed's function over the seed axis with `map_seeds`: ``vmap``
(every seed at once), ``map`` (``lax.map``: one seed after another) or ``mix:G``
(``lax.map`` over groups of G vmapped seeds). The speed and the memory depend on the mapping
(``benchmarks/seed_map.py``); the numbers only in their last bits: XLA:CPU compiles one seed's
computation to other kernels when a seed axis is there (a matrix-vector product fused into a
loop for one seed and a batched dot under vmap, a sum over a batch sent to YNNPACK or not), and
those add in other orders. The linear models train bit for bit alike under every mapping, the
MLP and the CNNs to about one float32 ulp (``tests/test_seed_map.py``).
"""

from __future__ import annotations

import collections
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .protocol import default_seed_map, parse_seed_map
from .train import TrainConfig, init_state, make_chunk

__all__ = ["Programs", "MAX_CHUNK", "chunk_length", "map_seeds", "resolve_seed_map"]

#: The longest chunk of epochs one program call runs: its history output has this many entries.
MAX_CHUNK = 256


def chunk_length(config: TrainConfig) -> int:
    """Steps of the chunk program's scan: every epoch, up to `MAX_CHUNK`."""
    return min(config.epochs, MAX_CHUNK)


def resolve_seed_map(seed_map: str | None, config: TrainConfig) -> str:
    """The seed mapping a run of ``config`` uses.

    Arguments:
        seed_map: ``"vmap"``, ``"map"``, ``"mix:G"``, or None for the default of the config's model
            family on this backend (`attnjax.protocol.SEED_MAP_DEFAULTS`; your own modules get
            ``vmap``).
        config: the run's settings.

    Returns:
        The mapping in its one spelling (`attnjax.protocol.parse_seed_map`).

    Raises:
        ConfigError: a ``seed_map`` that is not ``vmap``, ``map`` or ``mix:G``.
    """
    if seed_map is not None:
        return parse_seed_map(seed_map)
    family = "cnn" if config.encoder == "cnn" else config.model  # a CNN encoder runs convolutions
    return default_seed_map(None if config.modules is not None else family, jax.default_backend())


def map_seeds(fn: Callable, seed_map: str, in_axes: Sequence[int | None], *, blocks: int = 1) -> Callable:
    """``fn`` of one seed, mapped over the leading (seed) axis of the arguments ``in_axes`` marks 0.

    Arguments:
        fn: one seed's function of positional arguments.
        seed_map: ``"vmap"`` (``jax.vmap``: every seed at once), ``"map"`` (``jax.lax.map``: one
            seed after another, the others' memory free) or ``"mix:G"`` (``lax.map`` over groups
            of G vmapped seeds; a seed count that G does not divide is padded with copies of the
            last seed, whose results are dropped, so that ``fn`` is traced once). One seed under
            ``map``, or at most G under ``mix:G``, is one vmapped group: the same program as ``vmap``.
        in_axes: per argument, 0 (mapped over its leading axis) or None (shared by every seed).
        blocks: split the seeds into this many equal blocks, vmapped, each mapped as
            ``seed_map`` says inside (for a seed axis sharded over ``blocks`` devices: each
            device maps its own seeds; the seed count must be a multiple of it).

    Returns:
        The mapped function: the same arguments with a leading seed axis where ``in_axes`` is
        0; outputs with a leading seed axis.

    Raises:
        ConfigError: a ``seed_map`` that is not ``vmap``, ``map`` or ``mix:G``.
        ValueError: an ``in_axes`` entry other than 0 or None.
    """
    seed_map = parse_seed_map(seed_map)
    if any(axis not in (0, None) for axis in in_axes):
        raise ValueError(f"map_seeds maps the leading axis or none, got in_axes={tuple(in_axes)}")
    if seed_map == "vmap":
        return jax.vmap(fn, in_axes=tuple(in_axes))
    group = int(seed_map.partition(":")[2]) if seed_map.startswith("mix:") else 1

    def tree(f, x):
        return jax.tree_util.tree_map(f, x)

    def inner(seeded, shared):
        """``seeded``: the mapped arguments, ``[n, ...]`` leaves; ``shared``: the others."""
        def one(xs):
            it, fixed = iter(xs), iter(shared)
            return fn(*(next(it) if axis == 0 else next(fixed) for axis in in_axes))

        n = jax.tree_util.tree_leaves(seeded)[0].shape[0]
        if group >= n:
            return jax.vmap(one)(seeded)  # one group: every seed at once
        if group == 1:
            return jax.lax.map(one, seeded)
        pad = -n % group  # copies of the last seed, dropped below
        padded = tree(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x, seeded)
        grouped = tree(lambda x: x.reshape((-1, group) + x.shape[1:]), padded)
        out = jax.lax.map(jax.vmap(one), grouped)
        return tree(lambda y: y.reshape((-1,) + y.shape[2:])[:n], out)

    def mapped(*args):
        seeded = tuple(a for a, axis in zip(args, in_axes) if axis == 0)
        shared = tuple(a for a, axis in zip(args, in_axes) if axis is None)
        if blocks == 1:
            return inner(seeded, shared)
        split = tree(lambda x: x.reshape((blocks, -1) + x.shape[1:]), seeded)
        out = jax.vmap(lambda s: inner(s, shared))(split)
        return tree(lambda y: y.reshape((-1,) + y.shape[2:]), out)

    return mapped


def _signature(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((np.shape(x), str(getattr(x, "dtype", type(x)))) for x in leaves)


class Programs:
    """Compiled ``init`` and ``advance`` programs (``jit`` of `map_seeds`), newest kept.

    Arguments:
        max_size: how many compiled programs to keep (least recently used dropped first).

    Attributes:
        traces: ``Counter``: config -> how many times its training program (the chunk of
            epochs) was traced; one per compilation, never per call.
        compile_seconds: ``Counter``: config -> seconds spent tracing, lowering and compiling
            its programs (``init`` and ``advance``).
    """

    def __init__(self, *, max_size: int = 16):
        self.max_size = max_size
        self.traces: collections.Counter = collections.Counter()
        self.compile_seconds: collections.Counter = collections.Counter()
        self._compiled: collections.OrderedDict = collections.OrderedDict()

    def _get(self, key, config: TrainConfig, build):
        if key not in self._compiled:
            start = time.perf_counter()
            self._compiled[key] = build()
            # float seconds in a Counter: typeshed's Counter counts in ints only
            self.compile_seconds[config] += time.perf_counter() - start  # pyright: ignore[reportArgumentType]
            while len(self._compiled) > self.max_size:
                self._compiled.popitem(last=False)
        self._compiled.move_to_end(key)
        return self._compiled[key]

    def init(self, config: TrainConfig, keys, hparams, mesh: Mesh | None = None, *, seed_map: str | None = None):
        """``init(keys, hparams) -> TrainState``: `attnjax.train.init_state` for every seed.

        ``seed_map``: how the seeds are mapped (`map_seeds`; None: `resolve_seed_map`'s default).
        """
        seed_map = resolve_seed_map(seed_map, config)

        def build():
            fn = map_seeds(lambda key, h: init_state(config, key, h), seed_map, (0, 0), blocks=_blocks(mesh))
            shardings: dict[str, Any] = {} if mesh is None else dict(
                in_shardings=(_seeds(mesh), _seeds(mesh)), out_shardings=_seeds(mesh))
            return jax.jit(fn, **shardings).lower(keys, hparams).compile()

        return self._get(("init", config, seed_map, _signature((keys, hparams)), _mesh_id(mesh)), config, build)

    def advance(self, config: TrainConfig, state, hparams, data, mesh: Mesh | None = None, *,
                seed_map: str | None = None):
        """``advance(state, hparams, data, start, stop) -> (state, history)`` for every seed.

        [`attnjax.train.make_chunk`][]'s function, mapped over the seed axis of ``state``
        and ``hparams`` as ``seed_map`` says (`map_seeds`; None: `resolve_seed_map`'s
        default; ``data``, ``start`` and ``stop`` shared), with ``state`` donated. One
        program serves every chunk, of any length up to `chunk_length`.
        """
        seed_map = resolve_seed_map(seed_map, config)

        def build():
            chunk = make_chunk(config, chunk_length(config))

            def counted(state, hparams, data, start, stop):
                self.traces[config] += 1  # runs while tracing only
                return chunk(state, hparams, data, start, stop)

            fn = map_seeds(counted, seed_map, (0, 0, None, None, None), blocks=_blocks(mesh))
            shardings: dict[str, Any] = {} if mesh is None else dict(
                in_shardings=(_seeds(mesh), _seeds(mesh), _replicated(mesh), _replicated(mesh), _replicated(mesh)),
                out_shardings=_seeds(mesh))
            bound = np.int32(0)
            return jax.jit(fn, donate_argnums=0, **shardings).lower(state, hparams, data, bound, bound).compile()

        return self._get(("advance", config, seed_map, _signature((state, hparams, data)), _mesh_id(mesh)), config,
                         build)


def _mesh_id(mesh: Mesh | None):
    return None if mesh is None else tuple(d.id for d in mesh.devices.flat)


def _blocks(mesh: Mesh | None) -> int:
    """Seed blocks of `map_seeds`: one per device of the mesh, so that each maps its own seeds."""
    return 1 if mesh is None else mesh.devices.size


def _seeds(mesh: Mesh) -> NamedSharding:
    from .parallel import SEED_AXIS

    return NamedSharding(mesh, PartitionSpec(SEED_AXIS))


def _replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())
