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
