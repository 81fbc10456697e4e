"""An independent NumPy transcription of the focus metrics on text, for the tests to compare against."""

import numpy as np


def rationale_metrics(attention, predictions, labels, rationale, mask) -> dict:
    """FTPT / FFPT / FTPF / FFPF on text, in NumPy.

    Focus true: the most-attended unmasked token (first on ties) is a rationale
    token. Posts whose rationale is all zero (HateXplain's "normal" posts) cannot
    have a true focus; they are left out of the four counts and the focus
    accuracy, and reported as ``n_without_rationale`` with their own accuracy.

    Arguments:
        attention: ``[N, L]`` weights (or logits: only the argmax matters).
        predictions, labels: ``[N]`` predicted and true classes.
        rationale: ``[N, L]`` 0/1.
        mask: ``[N, L]`` True on real tokens.

    Returns:
        ``n_with_rationale``, counts ``ftpt``, ``ffpt``, ``ftpf``, ``ffpf`` (over posts
        with a rationale), ``focus_accuracy`` and ``accuracy`` (percent, same posts),
        ``n_without_rationale``, ``accuracy_without_rationale`` (percent, NaN if none)
        and ``accuracy_all`` (percent over every post).
    """
    mask = np.asarray(mask, bool)
    rationale = np.asarray(rationale) * mask
    top = np.argmax(np.where(mask, np.asarray(attention, np.float64), -np.inf), axis=1)
    focus_true = rationale[np.arange(len(top)), top] == 1
    pred_true = np.asarray(predictions) == np.asarray(labels)
    rated = rationale.any(axis=1)
    ft, pt = focus_true[rated], pred_true[rated]

    def percent(x):
        return float(100 * x.mean()) if x.size else float("nan")

    return dict(
        n_with_rationale=int(rated.sum()),
        ftpt=int(np.sum(ft & pt)), ffpt=int(np.sum(~ft & pt)),
        ftpf=int(np.sum(ft & ~pt)), ffpf=int(np.sum(~ft & ~pt)),
        focus_accuracy=percent(ft), accuracy=percent(pt),
        n_without_rationale=int((~rated).sum()),
        accuracy_without_rationale=percent(pred_true[~rated]),
        accuracy_all=percent(pred_true),
    )
