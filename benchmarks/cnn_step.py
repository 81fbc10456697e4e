#!/usr/bin/env python
"""One training step of the paper's CNN pair: attnjax (XLA) against PyTorch eager.

The step is attnjax's own pieces (``make_focus_logits``, ``make_apply``, ``LOSSES``,
optax SGD with momentum 0.9) under ``jax.jit`` (``--no-vmap``) or ``jax.jit(jax.vmap)``
over S seeds, against S eager PyTorch steps of ``torch_reference``'s models
(``zero_grad; backward; step; loss.item()``). The two alternate ``--rounds`` times;
the medians are compared. Random 28x28x1 mosaics, the paper's batch (256 x m = 5).

``--profile DIR`` also records one attnjax step with ``jax.profiler.trace`` and prints
the XLA:CPU thunks that took longest (match their names with the HLO that
``XLA_FLAGS=--xla_dump_to=DIR2`` writes: ``*jit_step*after_optimizations.txt``).

Usage::

    python benchmarks/cnn_step.py --seeds 1 --no-vmap
    python benchmarks/cnn_step.py --seeds 16 --rounds 2
    python benchmarks/cnn_step.py --seeds 1 --no-vmap --profile /tmp/trace
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

from attnjax.protocol import PRECISIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loss", choices=("soft", "hard", "lvml"), default="soft")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--no-vmap", action="store_true", help="jit(step) of one seed (needs --seeds 1)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--precision", choices=PRECISIONS,
                   default="float32")
    p.add_argument("--profile", type=Path, help="trace one attnjax step into this folder")
    args = p.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import optax
    import torch

    import torch_reference as tr
    from attnjax.losses import LOSSES
    from attnjax.train import Hyper, TrainConfig, init_params, make_apply, make_focus_logits

    S, B, m, shape = args.seeds, args.batch_size, 5, (28, 28, 1)
    cfg = TrainConfig(loss=args.loss, num_classes=3, m=m, segment_shape=shape, model="cnn",
                      batch_size=B, precision=args.precision)
    _, classify_fn = make_apply(cfg)
    focus_logits = make_focus_logits(cfg)
    loss_fn = LOSSES[args.loss]
    opt = optax.sgd(0.05, momentum=0.9)
    hp = Hyper(0.05, 1.0)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((B, m) + shape, np.float32))
    y = jnp.asarray(rng.integers(0, 3, B))
    fg = jnp.asarray(rng.integers(0, m, B))
    mask = jnp.ones((B, m), bool)  # every segment real

    def step(params, state, x, y, fg):
        def loss(p):
            return jnp.mean(loss_fn(focus_logits(p, hp, x, fg, mask), x, y, classify_fn(p)))

        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    keys = jax.random.split(jax.random.key(0), S)
    if args.no_vmap:
        if S != 1:
            raise SystemExit("--no-vmap needs --seeds 1")
        params = init_params(cfg, keys[0])
        f = jax.jit(step)
    else:
        params = jax.vmap(lambda k: init_params(cfg, k))(keys)
        f = jax.jit(jax.vmap(step, in_axes=(0, 0, None, None, None)))
    state = (opt.init(params) if args.no_vmap else jax.vmap(opt.init)(params))
    jax.block_until_ready(f(params, state, x, y, fg))

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tconfig = tr.TorchConfig(loss=args.loss, num_classes=3, m=m, segment_shape=shape,
                             model="cnn", batch_size=B, device=device,
                             precision=args.precision)
    tr.set_precision(args.precision)
    torch.manual_seed(0)
    net = tr.AttentionNet(tconfig).to(device)
    topt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    tx = torch.from_numpy(np.asarray(x).transpose(0, 1, 4, 2, 3).copy()).to(device)
    ty = torch.from_numpy(np.asarray(y).astype(np.int64)).to(device)

    def torch_step():
        topt.zero_grad()
        with tr.autocast(tconfig):
            loss = net(tx, ty)
        loss.backward()
        topt.step()
        return loss.item()

    torch_step()
    jax_s, torch_s = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(f(params, state, x, y, fg))
        jax_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(S):
            torch_step()
        torch_s.append(time.perf_counter() - t0)
    out = {
        "seeds": S, "vmap": not args.no_vmap, "loss": args.loss, "precision": args.precision,
        "jax_backend": jax.default_backend(), "torch_device": device,
        "jax_s": jax_s, "torch_s": torch_s,
        "torch_over_jax": float(np.median(torch_s) / np.median(jax_s)),
    }
    print(json.dumps(out))

    if args.profile:
        with jax.profiler.trace(str(args.profile)):
            jax.block_until_ready(f(params, state, x, y, fg))
        trace = sorted(glob.glob(str(args.profile / "**" / "*.trace.json.gz"), recursive=True))
        events = json.load(gzip.open(trace[-1]))["traceEvents"]
        total = collections.Counter()
        for e in events:
            if e.get("ph") == "X" and not e["name"].startswith(("$", "ThunkExecutor")):
                total[e["name"]] += e["dur"]
        for name, us in total.most_common(25):
            print(f"{us / 1e3:9.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
