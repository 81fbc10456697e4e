"""Fixtures shared by the training tests.

``tiny`` is the small orthogonal data set the paradigm, sampled-training and parallel tests
train on. Files whose checks were set on other sizes (learning thresholds, batch counts)
build their own set and say why next to it.
"""

import pytest

from attnjax.data import load_orthogonal


@pytest.fixture(scope="module")
def tiny():
    """``(data, info)``: 3 classes, m = 4 segments, 12 train and 6 test mosaics, background
    noise 0.1, the foreground at a random position, data seed 2.

    Small enough that a few epochs of a few seeds compile and run in seconds, yet with noise
    and a moving foreground so the focus has something to learn; 12 training mosaics split
    into whole batches of 4 (and one full batch of 12). Built once per test module, not per
    session: the arrays are writable NumPy arrays, so one file cannot change another's data.
    """
    return load_orthogonal(num_classes=3, m=4, n_train=12, n_test=6, noise=0.1,
                           random_position=True, seed=2)


def run_cli(argv, capsys):
    """``attnjax`` in-process: ``(exit status, stdout, stderr stripped)``; argparse's own exits included."""
    from attnjax.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


@pytest.fixture
def compiles():
    """The XLA programs compiled while the test runs (JAX's own monitoring events): a test of a
    refusal checks the list is empty, that is, nothing was compiled before the error."""
    import jax

    events = []

    def listen(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    yield events
    jax.monitoring.unregister_event_duration_listener(listen)


@pytest.fixture(scope="session", autouse=True)
def _own_compile_cache(tmp_path_factory):
    """The command turns on JAX's persistent compilation cache in ``$XDG_CACHE_HOME/attnjax``: point that at
    a folder of this test session, so that tests never fill (or read) the user's own cache."""
    import os

    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before
