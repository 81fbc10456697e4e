"""Your own Flax focus module and an optax optimizer whose b1 is a traced grid axis.

    python examples/own_modules.py          # 600/300 digits mosaics, 8 epochs, 4 values of Adam's b1
    python examples/own_modules.py --tiny   # what the test suite runs
"""

import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from attnjax import Hyper, TrainConfig, load_dataset, make_train
from attnjax.models import MLPClassifier


class ConvFocus(nn.Module):
    """One 3x3 convolution, a global average and a score: ``[N, 8, 8, 1] -> [N]``."""

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Conv(4, (3, 3))(x))
        return nn.Dense(1)(h.mean(axis=(1, 2)))[:, 0]


def main(tiny: bool = False) -> dict:
    n_train, n_test, epochs = (96, 48, 2) if tiny else (600, 300, 8)
    data, info = load_dataset("digits", n_train=n_train, n_test=n_test)
    config = TrainConfig.for_data(info, loss="soft", epochs=epochs, batch_size=32, optimizer=optax.adam,
                                  modules=(ConvFocus(), MLPClassifier(info.num_classes)))
    b1 = jnp.array([0.5, 0.7, 0.8, 0.9])
    grid = Hyper.tile(4, learning_rate=3e-3, optimizer={"b1": b1})
    keys = jax.random.split(jax.random.key(0), 4)
    result = jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))(keys, grid, data)
    accuracy = result.history.test.accuracy[:, -1, 2]  # soft attention: the pooled rule
    for b, a in zip(b1.tolist(), accuracy.tolist()):
        print(f"Adam b1 = {b:.1f}: test accuracy {a:.1f}%")
    return {"b1": b1, "accuracy": accuracy}


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv)
