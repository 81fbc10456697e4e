"""Fixtures shared by the training tests.

``tiny`` is the small orthogonal data set the paradigm, sampled-training and parallel tests
train on. Files whose checks were set on other sizes (learning thresholds, batch counts)
build their own set and say why next to it.
"""

from collections import Counter

import pytest

from attnjax.data import load_orthogonal

#: The test files that take longest (most first), so that they start first: ``pytest`` hands whole
#: files to its two workers (``--dist loadfile``) in collection order (``--no-loadscope-reorder``), and
#: with the longest files up front each worker ends on short files, so neither waits long for the
#: other. (xdist's own order, the files with the most tests first, put several of these one-test
#: files last, where one worker ran them while the other had nothing left.) Seconds on the 2-core
#: machine are in docs/tests.md; the order only decides when a file runs, never what it checks.
LONGEST_FIRST = (
    "test_encoders.py", "test_seed_map.py", "test_bitwise.py", "test_models.py", "test_resume_cli.py",
    "test_cli.py", "test_hybrid_reuse.py", "test_chunks.py", "test_fine_clock_cli.py", "test_gpu_script.py",
    "test_protocol.py", "theory/test_global_state.py", "test_bags.py", "test_parallel.py",
    "test_resume_other_data.py", "test_saved_predictions.py", "test_estimator_options.py",
)


def pytest_collection_modifyitems(session, config, items):
    """The files of :data:`LONGEST_FIRST` first, in that order; then the others, the files with the
    most tests first (xdist's own order), ties in collection order. Tests keep their order within a file."""
    files = [item.nodeid.split("::", 1)[0].removeprefix("tests/") for item in items]
    counts = Counter(files)
    rank = {f: i for i, f in enumerate(LONGEST_FIRST)}
    keys = {id(item): (rank.get(f, len(rank)), 0 if f in rank else -counts[f])
            for item, f in zip(items, files)}
    items.sort(key=lambda item: keys[id(item)])


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
