"""The command's entry point applies the jax-ml/jax#39103 workaround before JAX is imported.

tests/test_jax_release.py checks ``guard_known_wrong_release`` itself; this runs the installed
``attnjax`` entry point (``attnjax.cli:main``) in a fresh interpreter without ``XLA_FLAGS``, with
jaxlib's reported version patched, and records ``XLA_FLAGS`` at the moment ``jax`` is first
imported (an import hook), which is when it must already hold the flag.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

WORKAROUND = "--xla_cpu_experimental_ynn_fusion_type="

PROBE = textwrap.dedent(
    """
    import importlib.abc, importlib.metadata, json, os, sys

    reported = sys.argv[1]
    real_version = importlib.metadata.version
    importlib.metadata.version = lambda name: reported if name == "jaxlib" else real_version(name)

    seen = {}

    class WatchJax(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "jax" and "at_import" not in seen:
                seen["at_import"] = os.environ.get("XLA_FLAGS")
            return None  # the ordinary finders import it

    sys.meta_path.insert(0, WatchJax())
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="attnjax")
    main = entry.load()
    seen["jax_before_main"] = "jax" in sys.modules
    code = main(["--version"])  # prints the jax version: imports jax
    seen["code"] = code
    seen["jax_imported"] = "jax" in sys.modules
    seen["after"] = os.environ.get("XLA_FLAGS")
    print(json.dumps(seen))
    """
)


def _probe(reported: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run([sys.executable, "-c", PROBE, reported], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_entry_point_sets_the_flag_before_jax_on_the_wrong_release():
    seen = _probe("0.10.2")
    assert seen["code"] == 0 and seen["jax_imported"]
    assert seen["jax_before_main"] is False  # loading the entry point does not import JAX
    assert seen["at_import"] is not None and WORKAROUND in seen["at_import"].split(), seen
    assert WORKAROUND in seen["after"].split()


@pytest.mark.parametrize("reported", ["0.10.1", "0.10.3"])
def test_the_entry_point_leaves_xla_flags_alone_on_other_releases(reported):
    seen = _probe(reported)
    assert seen["code"] == 0 and seen["jax_imported"] and seen["jax_before_main"] is False
    assert seen["at_import"] is None and seen["after"] is None, seen
