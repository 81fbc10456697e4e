"""Eight seeds of hard attention on digits mosaics, in one compiled program.

    python examples/api.py            # 2000/1000 mosaics, 40 epochs (about a minute on 2 CPU cores)
    python examples/api.py --tiny     # what the test suite runs
"""

import sys

import jax

from attnjax import Hyper, TrainConfig, load_dataset, make_train


def main(tiny: bool = False) -> dict:
    n_train, n_test, epochs, seeds = (128, 64, 2, 2) if tiny else (2000, 1000, 40, 8)
    data, info = load_dataset("digits", m=5, n_train=n_train, n_test=n_test, seed=0)
    config = TrainConfig.for_data(info, loss="hard", epochs=epochs, batch_size=64)
    train = make_train(config)  # pure: train(key, hparams, data)

    keys = jax.random.split(jax.random.key(0), seeds)
    hparams = Hyper.tile(seeds, learning_rate=0.01)
    result = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, hparams, data)

    accuracy = result.history.test.accuracy[:, -1, 1]  # [seeds]: last epoch, the expected rule
    focus = result.history.test.focus_accuracy[:, -1]  # [seeds]
    print(f"test accuracy {accuracy.mean():.1f}%, focus accuracy {focus.mean():.1f}% over {seeds} seeds")
    return {"accuracy": accuracy, "focus_accuracy": focus, "loss": result.history.loss}


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv)
