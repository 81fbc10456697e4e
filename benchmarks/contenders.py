"""The four ways ``seeds.py`` trains the same S seeds, one class each.

=================  =========================================================================
``attnjax_vmap``   (a) attnjax ``jit(vmap(train))``: every seed in one compiled program
``attnjax_loop``   (d) attnjax ``jit(train)`` compiled once and called once per seed
``torch_loop``     (b) PyTorch the way the authors train: a Python loop over the seeds, eager
                   mode, a ``DataLoader`` (``torch_reference.train_loop``)
``torch_vmap``     (c) PyTorch ``torch.func`` over the seeds (``torch_reference.train_vmap``)
=================  =========================================================================

in the order they warm up and start the first round (the letters are the README's). Every
contender has the same interface (:class:`Contender`): ``setup()`` once before the timed
rounds, ``run(block)`` once per round, then ``result()`` and ``final(rule)`` for the fairness
check. JAX, PyTorch and ``torch_reference`` are imported inside the methods: ``seeds.py`` pins the
process's cores before either framework starts.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import Any

import numpy as np
from measure import timed


@dataclasses.dataclass(frozen=True)
class Problem:
    """What every contender trains: the same S seeds on the same data, in both frameworks.

    ``config``, ``data``, ``keys`` (``[S]``) and ``hparams`` for attnjax; ``tconfig`` and
    ``tdata`` (``torch_reference.TorchConfig`` / ``TorchData``), ``learning_rate`` and
    ``loader`` for PyTorch, whose seeds are the integers ``0 .. S-1``.
    """

    config: Any
    data: Any
    keys: Any
    hparams: Any
    tconfig: Any
    tdata: Any
    learning_rate: float
    loader: str

    @property
    def seeds(self) -> int:
        return int(self.keys.shape[0])


class Contender:
    """One way to train a :class:`Problem`'s S seeds.

    ``name``: its key in ``--methods`` and in the JSON. ``framework``: ``"jax"`` or
    ``"torch"``, whose device memory its rows report. ``per_seed``: True for a Python loop
    over the seeds, timed seed by seed (its time is S x the median seed); False for one
    program over all S seeds (its time is the median round).
    """

    name: str
    framework: str
    per_seed: bool

    def __init__(self, problem: Problem):
        self.problem = problem

    def setup(self) -> dict:
        """Warm up before the timed rounds; the one-off times measured apart (``*_s``), or {}."""
        raise NotImplementedError

    def run(self, block) -> list[float]:
        """One round: the seeds in ``block`` (a loop) or all S (one program); the timed samples (s)."""
        raise NotImplementedError

    def with_compile_s(self, row: dict) -> float | None:
        """The time including compilation, from this contender's timing ``row``; None if none."""
        return None

    def result(self):
        """The last trained run of every seed: a ``TrainResult`` or a ``TorchResult``, seeds first."""
        raise NotImplementedError

    def final(self, rule: int):
        """Per seed, at the last epoch: test accuracy and train accuracy under ``rule``, and the loss."""
        raise NotImplementedError


class _Attnjax(Contender):
    framework = "jax"

    def final(self, rule: int):
        history = self.result().history
        return (np.asarray(history.test.accuracy)[:, -1, rule],
                np.asarray(history.train.accuracy)[:, -1, rule],
                np.asarray(history.loss)[:, -1])


class AttnjaxVmap(_Attnjax):
    """(a) ``jit(vmap(make_train(config)))``: compiled and run once in ``setup``, timed apart."""

    name, per_seed = "attnjax_vmap", False

    def setup(self) -> dict:
        import jax

        from attnjax.train import make_train

        p = self.problem
        program = jax.jit(jax.vmap(make_train(p.config), in_axes=(0, 0, None)))
        self.program, compile_s = timed(lambda: program.lower(p.keys, p.hparams, p.data).compile())
        self._result, first_run_s = timed(self._call)
        return {"compile_s": compile_s, "first_run_s": first_run_s}

    def _call(self):
        import jax

        p = self.problem
        return jax.device_get(self.program(p.keys, p.hparams, p.data))

    def run(self, block) -> list[float]:
        self._result, t = timed(self._call)
        return [t]

    def with_compile_s(self, row: dict) -> float:
        return row["compile_s"] + row["first_run_s"]

    def result(self):
        return self._result


class AttnjaxLoop(_Attnjax):
    """(d) ``jit(make_train(config))`` compiled once for one seed, called seed by seed."""

    name, per_seed = "attnjax_loop", True

    def setup(self) -> dict:
        import jax

        from attnjax.train import make_train

        p = self.problem
        one = jax.tree_util.tree_map(lambda x: x[0], p.hparams)
        self.program, compile_s = timed(
            lambda: jax.jit(make_train(p.config)).lower(p.keys[0], one, p.data).compile())
        _, first_run_s = timed(lambda: jax.device_get(self.program(p.keys[0], one, p.data)))
        self._results: list = [None] * p.seeds
        return {"compile_s": compile_s, "first_run_s": first_run_s}

    def run(self, block) -> list[float]:
        import jax

        p = self.problem
        gc.collect()
        samples = []
        for s in block:
            hp = jax.tree_util.tree_map(lambda x, s=s: x[s], p.hparams)
            t0 = time.perf_counter()
            self._results[s] = jax.device_get(self.program(p.keys[s], hp, p.data))
            samples.append(time.perf_counter() - t0)
        return samples

    def with_compile_s(self, row: dict) -> float:
        return row["compile_s"] + row["run_s"]

    def result(self):
        import jax

        return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *self._results)


class _Torch(Contender):
    framework = "torch"

    def final(self, rule: int):
        res = self.result()
        return res.test[:, -1, rule], res.train[:, -1, rule], res.loss[:, -1]


class TorchLoop(_Torch):
    """(b) ``torch_reference.train_loop`` over the block's seeds; warmed up on one other seed."""

    name, per_seed = "torch_loop", True

    def setup(self) -> dict:
        import torch_reference as tr

        p = self.problem
        tr.train_loop(dataclasses.replace(p.tconfig, epochs=1), p.tdata, [10_000], p.learning_rate,
                      loader=p.loader)
        self._parts: list = []
        return {}

    def run(self, block) -> list[float]:
        import torch_reference as tr

        p = self.problem
        gc.collect()
        res = tr.train_loop(p.tconfig, p.tdata, [int(s) for s in block], p.learning_rate, loader=p.loader)
        self._parts.append(res)
        return [float(x) for x in res.seconds]

    def result(self):
        import torch_reference as tr

        return tr.TorchResult(*(np.concatenate(xs)[:self.problem.seeds] for xs in zip(*self._parts)))


class TorchVmap(_Torch):
    """(c) ``torch_reference.train_vmap`` over all S seeds; warmed up with one epoch of them."""

    name, per_seed = "torch_vmap", False

    def setup(self) -> dict:
        import torch_reference as tr

        p = self.problem
        tr.train_vmap(dataclasses.replace(p.tconfig, epochs=1), p.tdata, list(range(p.seeds)),
                      p.learning_rate)
        return {}

    def run(self, block) -> list[float]:
        import torch_reference as tr

        p = self.problem
        self._result, t = timed(tr.train_vmap, p.tconfig, p.tdata, list(range(p.seeds)), p.learning_rate)
        return [t]

    def result(self):
        return self._result


#: Every contender by name, in the order they warm up and start the first round.
CONTENDERS = {c.name: c for c in (AttnjaxVmap, AttnjaxLoop, TorchLoop, TorchVmap)}
