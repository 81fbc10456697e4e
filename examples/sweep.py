"""A learning-rate grid times seeds for the hybrid, one compiled program per phase, with attnjax.train_seeds.

    python examples/sweep.py          # 5 learning rates x 4 seeds, digits, 20 epochs
    python examples/sweep.py --tiny   # what the test suite runs

The command-line equivalent is ``attnjax sweep --lr 0.003,0.01,0.03,0.1,0.3 --losses hybrid``.
"""

import sys

import numpy as np

from attnjax import TrainConfig, load_dataset, train_seeds


def main(tiny: bool = False) -> dict:
    n_train, n_test, epochs, seeds = (128, 64, 2, 2) if tiny else (2000, 1000, 20, 4)
    rates = np.array([0.003, 0.01, 0.03, 0.1, 0.3], np.float32)
    data, info = load_dataset("digits", n_train=n_train, n_test=n_test)
    config = TrainConfig.for_data(info, loss="hybrid", epochs=epochs, batch_size=64)
    # one run per (rate, seed): the learning rate is a traced field, so the grid is one program per phase
    # (the hybrid's soft phase runs the soft paradigm's own program: two programs in all)
    runs = train_seeds(config, data, seeds=len(rates) * seeds, learning_rate=np.repeat(rates, seeds))
    focus = np.asarray(runs.history.test.focus_accuracy)[:, -1].reshape(len(rates), seeds)
    for lr, f in zip(rates, focus):
        print(f"lr {lr:g}: focus accuracy {f.mean():.1f} ± {f.std(ddof=1):.1f}%")
    return {"learning_rate": rates, "focus_accuracy": focus, "traces": runs.traces}


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv)
