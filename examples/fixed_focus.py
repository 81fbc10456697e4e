"""Fixed focus: freeze the attention on the foreground at alpha, train only the classifier.

    python examples/fixed_focus.py          # digits, 5 alphas x 3 losses x 4 seeds, 30 epochs
    python examples/fixed_focus.py --tiny   # what the test suite runs

Each epoch records L(alpha) and L(alpha) - L(alpha + 0.01): how much the focus would gain by
attending a little more to the foreground, the paper's explanation of the signatures.
"""

import sys

import numpy as np

from attnjax import fixed_focus, load_dataset


def main(tiny: bool = False) -> dict:
    n_train, n_test, epochs, seeds = (128, 64, 2, 2) if tiny else (2000, 1000, 30, 4)
    alphas = (0.2, 0.4, 0.6, 0.8, 1.0)
    data, info = load_dataset("digits", n_train=n_train, n_test=n_test, fg_first=True)
    runs = fixed_focus(data, info, alphas=alphas, seeds=seeds, epochs=epochs)
    out = {}
    for loss, r in runs.items():
        # [alphas * seeds, epochs, 2]: L(alpha) and L(alpha) - L(alpha + 0.01); run a * seeds + s
        final = np.asarray(r.history.fixed_focus_loss)[:, -1].reshape(len(alphas), seeds, 2).mean(1)
        out[loss] = final
        print(loss, "  ".join(f"alpha {a}: L {L:.3f}, gain {g:+.4f}" for a, (L, g) in zip(alphas, final)))
    return out


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv)
