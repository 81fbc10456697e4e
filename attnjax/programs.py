"""The host loop's compiled programs, cached per configuration and argument shapes.

A :class:`Programs` object is the cache: pass one to several
:func:`attnjax.experiments.train_seeds` calls to reuse their compiled programs, and read
how often each configuration was traced and how long compiling took. Nothing is cached at
module level, so two callers never share (or cross) state they did not share on purpose.

Each program is compiled ahead of time (``jit(...).lower(...).compile()``), which lets the
caller read XLA's memory analysis before running it and time the compilation on its own.
When JAX's persistent compilation cache is on (the ``attnjax`` command turns it on; the
library never does), ``compile()`` reads from it.
"""

from __future__ import annotations

import collections
import time

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .train import TrainConfig, init_state, make_chunk

__all__ = ["Programs", "MAX_CHUNK", "chunk_length"]

#: The longest chunk of epochs one program call runs: its history output has this many entries.
MAX_CHUNK = 256


def chunk_length(config: TrainConfig) -> int:
    """Steps of the chunk program's scan: every epoch, up to :data:`MAX_CHUNK`."""
    return min(config.epochs, MAX_CHUNK)


def _signature(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((np.shape(x), str(getattr(x, "dtype", type(x)))) for x in leaves)


class Programs:
    """Compiled ``init`` and ``advance`` programs (``jit(vmap(...))`` over seeds), newest kept.

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
            self.compile_seconds[config] += time.perf_counter() - start
            while len(self._compiled) > self.max_size:
                self._compiled.popitem(last=False)
        self._compiled.move_to_end(key)
        return self._compiled[key]

    def init(self, config: TrainConfig, keys, hparams, mesh: Mesh | None = None):
        """``init(keys, hparams) -> TrainState``: :func:`attnjax.train.init_state` for every seed."""
        def build():
            fn = jax.vmap(lambda key, h: init_state(config, key, h))
            shardings = {} if mesh is None else dict(
                in_shardings=(_seeds(mesh), _seeds(mesh)), out_shardings=_seeds(mesh))
            return jax.jit(fn, **shardings).lower(keys, hparams).compile()

        return self._get(("init", config, _signature((keys, hparams)), _mesh_id(mesh)), config, build)

    def advance(self, config: TrainConfig, state, hparams, data, mesh: Mesh | None = None):
        """``advance(state, hparams, data, start, stop) -> (state, history)`` for every seed.

        :func:`attnjax.train.make_chunk`'s function, vmapped over the seed axis of ``state``
        and ``hparams`` (``data``, ``start`` and ``stop`` shared), with ``state`` donated. One
        program serves every chunk, of any length up to :func:`chunk_length`.
        """
        def build():
            chunk = make_chunk(config, chunk_length(config))

            def counted(state, hparams, data, start, stop):
                self.traces[config] += 1  # runs while tracing only
                return chunk(state, hparams, data, start, stop)

            fn = jax.vmap(counted, in_axes=(0, 0, None, None, None))
            shardings = {} if mesh is None else dict(
                in_shardings=(_seeds(mesh), _seeds(mesh), _replicated(mesh), _replicated(mesh), _replicated(mesh)),
                out_shardings=_seeds(mesh))
            bound = np.int32(0)
            return jax.jit(fn, donate_argnums=0, **shardings).lower(state, hparams, data, bound, bound).compile()

        return self._get(("advance", config, _signature((state, hparams, data)), _mesh_id(mesh)), config, build)


def _mesh_id(mesh: Mesh | None):
    return None if mesh is None else tuple(d.id for d in mesh.devices.flat)


def _seeds(mesh: Mesh) -> NamedSharding:
    from .parallel import SEED_AXIS

    return NamedSharding(mesh, PartitionSpec(SEED_AXIS))


def _replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())
