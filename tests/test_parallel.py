"""Seeds sharded over devices and run in chunks give the one-device results.

The multi-device checks run in subprocesses, because
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` only takes effect before JAX
initialises its CPU backend (this test process already has one device). The
reference is one ``jit(vmap(train))`` call over 8 seeds on one device, in this
process; the subprocesses send their results back as JSON (exact for float32).

What "the same" means:

* chunking and padding on one device: bitwise identical to the reference (a seed's
  computation does not depend on what else is in the batch, and the one-device
  module is the same at every batch size);
* several devices, in one process or in two (``jax.distributed`` with gloo CPU
  collectives): equal to 1e-6 absolute, not bitwise. With more
  than one device XLA compiles the program as an SPMD-partitioned module
  (``num_partitions > 1``), and its pass pipeline rewrites a few floating-point
  operations differently (a division kept where the one-device module multiplies by
  a reciprocal), which moves some parameters by an ulp or two (about 6e-8 here).
  The metrics, which are counts, come out identical.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from attnjax.errors import ConfigError
from attnjax.parallel import PeakMemory, peak_memory, run_seeds, seed_mesh
from attnjax.train import Hyper, TrainConfig, make_train

# A tiny problem, built the same way here and in the subprocesses.
SETUP = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    from attnjax.data import load_orthogonal
    from attnjax.train import Hyper, TrainConfig, make_train

    data, info = load_orthogonal(num_classes=4, m=3, n_train=16, n_test=8, noise=0.1,
                                 random_position=True, seed=2)
    config = TrainConfig.for_data(info, loss="soft", model="mlp", hidden=8, epochs=3,
                                  batch_size=4)
    train = make_train(config)

    def inputs(S):
        # The first S of 8 seeds, each with its own learning rate (a grid).
        keys = jax.random.split(jax.random.key(7), 8)[:S]
        return keys, Hyper.tile(S, np.linspace(0.05, 0.4, 8)[:S])

    def dump(result):
        leaves = jax.tree_util.tree_leaves_with_path(result)
        return {jax.tree_util.keystr(path): np.asarray(x).tolist() for path, x in leaves}
    """
)

MULTI_DEVICE = SETUP + textwrap.dedent(
    """
    from attnjax.errors import ConfigError
    from attnjax.parallel import peak_memory, run_seeds

    out = {"devices": len(jax.devices()), "cases": {}}
    cases = [  # (name, S, devices, chunk_size)
        ("4 devices, S=8", 8, 4, None),
        ("4 devices, S=6 in chunks of 4", 6, 4, 4),
        ("4 devices, S=5 padded to 8", 5, 4, None),
        ("1 device, S=6 in chunks of 4", 6, 1, 4),
    ]
    for name, S, devices, chunk in cases:
        keys, hp = inputs(S)
        result = run_seeds(train, keys, hp, data, devices=devices, chunk_size=chunk)
        out["cases"][name] = {"devices": devices, "seeds": S, "result": dump(result)}
    try:
        run_seeds(train, *inputs(2), data, devices=5)
        out["too_many"] = "no error"
    except ConfigError as e:
        out["too_many"] = str(e)
    import resource
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_memory"] = list(peak_memory())
    out["max_rss_kib"] = [rss_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]
    print("RESULT " + json.dumps(out))
    """
)

MULTI_HOST = SETUP + textwrap.dedent(
    """
    import sys
    from attnjax.parallel import run_seeds

    pid, port = int(sys.argv[1]), int(sys.argv[2])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid)
    result = run_seeds(train, *inputs(5), data, chunk_size=4)  # 4 global devices, 2 per host
    print("RESULT " + json.dumps({
        "process": pid, "processes": jax.process_count(), "global_devices": len(jax.devices()),
        "local_devices": len(jax.local_devices()), "result": dump(result)}))
    """
)


def _env(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def setup():
    """The SETUP namespace in this process, plus the one-device reference over 8 seeds."""
    namespace: dict = {}
    exec(SETUP, namespace)
    keys, hp = namespace["inputs"](8)
    ref = jax.jit(jax.vmap(namespace["train"], in_axes=(0, 0, None)))(keys, hp, namespace["data"])
    namespace["reference"] = {k: np.asarray(v) for k, v in namespace["dump"](ref).items()}
    return namespace


def _compare(reference: dict, dumped: dict, seeds: int) -> tuple[bool, float]:
    """(bitwise equal, max abs difference) against the first ``seeds`` reference seeds."""
    assert set(dumped) == set(reference)
    bitwise, diff = True, 0.0
    for key, ref in reference.items():
        ref = ref[:seeds]
        got = np.asarray(dumped[key], dtype=ref.dtype)
        assert got.shape == ref.shape, (key, got.shape, ref.shape)  # padding stripped
        bitwise &= bool(np.array_equal(got, ref))
        diff = max(diff, float(np.max(np.abs(got.astype(np.float64) - ref))))
    return bitwise, diff


def test_four_devices_and_chunks_match_one_device(setup):
    proc = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=_env(4), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = _result(proc.stdout)
    assert out["devices"] == 4
    for name, case in out["cases"].items():
        bitwise, diff = _compare(setup["reference"], case["result"], case["seeds"])
        if case["devices"] == 1:
            assert bitwise, (name, diff)
        else:
            assert diff <= 1e-6, (name, diff)
    assert "5 devices requested but only 4" in out["too_many"]
    # Four CPU devices report no memory statistics: the process's max RSS, in bytes.
    peak, source, per_device = out["peak_memory"]
    assert source == "rss" and per_device == []
    low, high = out["max_rss_kib"]
    assert 1024 * low <= peak <= 1024 * high


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_share_the_seeds(setup):
    """Two processes with two CPU devices each: a 4-device global mesh (jax.distributed)."""
    port = _free_port()
    procs = [
        subprocess.Popen([sys.executable, "-c", MULTI_HOST, str(pid), str(port)], env=_env(2),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for pid in (0, 1)
    ]
    outs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=240)
            assert proc.returncode == 0, stderr[-4000:]
            outs.append(_result(stdout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for out in outs:
        assert out["processes"] == 2 and out["global_devices"] == 4 and out["local_devices"] == 2
        bitwise, diff = _compare(setup["reference"], out["result"], 5)
        assert diff <= 1e-6, (out["process"], diff)


# ----------------------------------------------------------------------------- in process


@pytest.fixture(scope="module")
def linear_soft(tiny):
    """``(train, data)``: soft attention with linear models, 2 epochs of batches of 4, on ``tiny``."""
    data, info = tiny
    config = TrainConfig.for_data(info, loss="soft", model="linear", epochs=2, batch_size=4)
    return make_train(config), data


def test_one_device_matches_jit_vmap_bitwise(linear_soft):
    train, data = linear_soft
    S = 3
    keys = jax.random.split(jax.random.key(1), S)
    hp = Hyper.tile(S, 0.3)
    ref = jax.device_get(jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, hp, data))
    out = run_seeds(train, keys, hp, data)
    for a, b in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(out)):
        assert isinstance(b, np.ndarray)
        np.testing.assert_array_equal(a, b)


def test_errors(linear_soft):
    train, data = linear_soft
    keys = jax.random.split(jax.random.key(1), 2)
    n = len(jax.devices())
    with pytest.raises(ConfigError, match=f"{n + 1} devices requested but only {n}"):
        run_seeds(train, keys, Hyper.tile(2, 0.1), data, devices=n + 1)
    with pytest.raises(ConfigError, match="positive"):
        run_seeds(train, keys, Hyper.tile(2, 0.1), data, devices=0)
    with pytest.raises(ConfigError, match="chunk_size"):
        run_seeds(train, keys, Hyper.tile(2, 0.1), data, chunk_size=0)
    with pytest.raises(ConfigError, match="leading seed axis"):
        run_seeds(train, keys, Hyper.tile(3, 0.1), data)
    with pytest.raises(ConfigError):
        seed_mesh(n + 1)


def _current_rss() -> int:
    """Resident set size now, in bytes (Linux /proc), independent of getrusage."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(jax.default_backend() != "cpu" or not os.path.exists("/proc/self/statm"),
                    reason="process RSS on Linux CPU")
def test_peak_memory_is_the_process_max_rss_in_bytes():
    """On CPU: getrusage's max RSS converted from KiB to bytes, and it sees a big allocation."""
    size = 256 * 2**20
    rss = _current_rss()
    block = np.ones(size, np.uint8)  # touched, so resident
    low = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak_memory()
    high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert block.sum() == size
    assert isinstance(peak, PeakMemory)
    assert peak.source == "rss" and peak.per_device == ()
    assert 1024 * low <= peak.bytes <= 1024 * high
    assert peak.bytes >= rss + 0.9 * size  # at least the memory before plus the new block
    assert str(peak) == f"{peak.bytes / 2**20:.1f} MiB (process max RSS)"


@pytest.mark.skipif(jax.default_backend() == "cpu", reason="devices with memory statistics")
def test_peak_memory_on_an_accelerator_sees_a_big_array():
    size = 256 * 2**20
    block = jax.block_until_ready(jax.numpy.ones(size, jax.numpy.uint8))
    peak = peak_memory()
    assert peak.source == "device" and len(peak.per_device) == len(jax.local_devices())
    assert peak.bytes == max(peak.per_device) >= size
    del block
