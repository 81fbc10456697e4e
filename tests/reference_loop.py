"""``make_train`` written out by hand, once, for the tests to compare against.

A plain Python loop over epochs and minibatches with plain optax SGD, following the documented
key schedule and nothing of attnjax's training code:

* ``init_key, key = split(key)``; the parameters come from ``init_params(config, init_key)``;
* each epoch: ``key, perm_key = split(key)``, a fresh permutation of the training mosaics,
  ``n // batch_size`` full batches of it;
* batch ``b`` of an epoch draws its samples with ``fold_in(perm_key, b + 1)``.
"""

import jax
import numpy as np
import optax

from attnjax.focus import init_params
from attnjax.sampled import update_baseline


def reference_run(config, key, lr, data, batch_loss, *, momentum, classifier_only=False, reset_at=None,
                  baseline_decay=None, reuse_first_permutation=False):
    """``(final params, per-epoch mean training loss)`` of the hand-written loop.

    Arguments:
        config: the run's TrainConfig (epochs, batch size, the models).
        key, lr, data: the run's key, learning rate and data set.
        batch_loss: ``batch_loss(params, segments, labels, fg_pos, epoch, sample_key, baseline)``,
            the mean loss of one minibatch (``epoch`` is a Python int).
        momentum: SGD momentum (None or 0 for plain SGD).
        classifier_only: the focus is frozen (fixed focus): only the classifier's parameters learn.
        reset_at: the epoch whose start gets a fresh optimizer state (the hybrid's second run).
        baseline_decay: REINFORCE's moving-average baseline, ``b <- decay b + (1 - decay) L``
            after every step, starting at 0 (None: the baseline stays 0).
        reuse_first_permutation: a planted bug to tell apart: every epoch in the first one's order.
    """
    init_key, key = jax.random.split(key)
    params = init_params(config, init_key)
    if classifier_only:
        params = {"classifier": params["classifier"]}
    tx = optax.sgd(lr, momentum=momentum or None)
    state, baseline = tx.init(params), np.float32(0.0)
    split, size = data.train, config.batch_size
    n = split.index.shape[0]
    grad = jax.jit(jax.value_and_grad(batch_loss), static_argnums=(4,))
    first_perm_key, losses = None, []
    for epoch in range(config.epochs):
        if reset_at == epoch:
            state = tx.init(params)
        key, perm_key = jax.random.split(key)
        if reuse_first_permutation:
            first_perm_key = perm_key if first_perm_key is None else first_perm_key
            perm_key = first_perm_key
        perm = np.asarray(jax.random.permutation(perm_key, n))
        epoch_losses = []
        for b in range(n // size):
            rows = perm[b * size:(b + 1) * size]
            segments = np.asarray(data.pool)[np.asarray(split.index)[rows]]
            value, grads = grad(params, segments, np.asarray(split.labels)[rows], np.asarray(split.fg_pos)[rows],
                                epoch, jax.random.fold_in(perm_key, b + 1), baseline)
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            if baseline_decay is not None:
                baseline = update_baseline(baseline, value, baseline_decay)
            epoch_losses.append(float(value))
        losses.append(np.mean(epoch_losses))
    return params, np.array(losses)
