"""Issue 29, item 8: a run that reads its programs back from the compilation cache prints no wall of
XLA's ``cpu_aot_loader.cc`` lines; the command sets XLA's log level before JAX starts, only where the
user has not; and the cache's CPU check the command keeps in their place."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnjax import cli

TINY = ["compare", "--dataset", "orthogonal", "--classes", "3", "--m", "3", "--seeds", "1", "--epochs", "1",
        "--losses", "soft"]

#: Records TF_CPP_MIN_LOG_LEVEL as it is when ``jax`` is first imported, then runs the command.
PROBE = """
import importlib.abc, os, sys
seen = []
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "jax" and not seen:
            seen.append(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "<unset>"))
        return None
sys.meta_path.insert(0, Probe())
from attnjax.cli import main
main(["--version"])
print("at jax import:", seen[0])
"""


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(changes)
    return env


def test_the_log_level_is_set_before_jax_is_imported_unless_the_user_set_it():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=_env(), check=True)
    assert f"at jax import: {cli.XLA_LOG_LEVEL}" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=_env(TF_CPP_MIN_LOG_LEVEL="0"), check=True)
    assert "at jax import: 0" in out.stdout, out.stdout + out.stderr


def test_a_second_run_from_a_shared_cache_prints_no_xla_loader_lines(tmp_path):
    """Two tiny runs with one --compile-cache folder: the second reads its programs back, and its
    stderr holds no cpu_aot_loader line (the reporter's machine printed 24 of them)."""
    cache = tmp_path / "cache"
    errs = []
    for run in ("first", "second"):
        done = subprocess.run([sys.executable, "-m", "attnjax.cli", *TINY, "--compile-cache", str(cache),
                               "--out", str(tmp_path / run)], capture_output=True, text=True, env=_env(),
                              timeout=600)
        assert done.returncode == 0, done.stderr
        errs.append(done.stderr)
    assert any(cache.rglob("*")), "nothing was cached"
    assert "cpu_aot_loader" not in errs[1], errs[1][:2000]
    assert len(errs[1]) < 2000, errs[1][:2000]


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads /proc/cpuinfo")
def test_a_cache_folder_from_a_cpu_with_other_features_is_said(tmp_path):
    """The check XLA's silenced message made: a folder filled on a CPU with a feature this one lacks."""
    flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.split(":")[0].strip() in ("flags", "Features")).split(":", 1)[1].split()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert cli._check_cache_cpu(fresh) is None
    assert set((fresh / cli.CACHE_CPU_FILE).read_text().split()) == set(flags)
    assert cli._check_cache_cpu(fresh) is None  # the same CPU: silent
    other = tmp_path / "other"
    other.mkdir()
    (other / cli.CACHE_CPU_FILE).write_text(" ".join(flags[:3] + ["zz_imaginary_feature"]))
    warning = cli._check_cache_cpu(other)
    assert warning is not None and "zz_imaginary_feature" in warning and "SIGILL" in warning
    assert f"--compile-cache {other}" in warning
