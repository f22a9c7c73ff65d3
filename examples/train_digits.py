#!/usr/bin/env python3
"""Train a linear classifier on scikit-learn's digits, one epoch per reported interval.

A real training script for measuring early termination (docs/policy-bench.md): it fits
scikit-learn's `SGDClassifier` with `partial_fit` on the bundled `load_digits` dataset
(1,797 8x8 images, no download), one pass over the training set per epoch, and reports the
validation accuracy after every epoch with sweep's metric protocol:

    @sweep {"metric": "accuracy", "value": 0.9537, "step": 3}

The split is fixed (70% train, 30% validation, stratified, independent of --seed) and the
features are standardised on the training part; --seed decides the model's random state and
the order of the examples in each epoch, so a run is a deterministic function of its
arguments. It stops cleanly after the epoch in progress when SWEEP_STOP_FILE appears.

Hyperparameters arrive as sweep passes them (`--name value`); an unknown flag is an error.
`bench/compare_policies.py` imports `train` from this file to run the same objective
in-process under Optuna.
"""

import argparse
import json
import math
import os
import sys

LOSSES = ["hinge", "log_loss", "modified_huber", "perceptron", "squared_hinge"]
SCHEDULES = ["constant", "invscaling", "optimal"]

_DATA = None


def load_data():
    """The fixed split, standardised on its training part (cached per process)."""
    global _DATA
    if _DATA is None:
        import numpy as np
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        x, y = load_digits(return_X_y=True)
        x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
        scaler = StandardScaler().fit(x_tr)
        _DATA = (scaler.transform(x_tr), scaler.transform(x_va), y_tr, y_va, np.unique(y))
    return _DATA


def train(params, epochs, seed, on_epoch):
    """Train for up to `epochs` epochs; call `on_epoch(epoch, accuracy)` after each one.

    `params` holds loss, alpha, learning_rate (the schedule), eta0 and power_t. Training
    stops early when `on_epoch` returns True. A model whose weights overflow gets accuracy
    NaN for that epoch and training ends there. Returns the number of epochs trained.
    """
    import warnings

    import numpy as np
    from sklearn.linear_model import SGDClassifier

    x_tr, x_va, y_tr, y_va, classes = load_data()
    clf = SGDClassifier(
        loss=params["loss"],
        alpha=params["alpha"],
        learning_rate=params["learning_rate"],
        eta0=params["eta0"],
        power_t=params["power_t"],
        random_state=seed,
    )
    rng = np.random.RandomState(seed)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y_tr))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.partial_fit(x_tr[order], y_tr[order], classes=classes)
            ok = np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
        except (ValueError, FloatingPointError):
            ok = False  # sklearn raises on an overflow of the weights
        acc = float(clf.score(x_va, y_va)) if ok else math.nan
        if on_epoch(epoch, acc) or not ok:
            return epoch
    return epochs


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", choices=LOSSES, default="hinge")
    ap.add_argument("--alpha", type=float, default=1e-4, help="L2 regularisation strength")
    ap.add_argument("--learning_rate", choices=SCHEDULES, default="optimal", help="schedule")
    ap.add_argument("--eta0", type=float, default=0.01, help="initial rate (constant, invscaling)")
    ap.add_argument("--power_t", type=float, default=0.5, help="invscaling exponent")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.alpha < 0 or args.eta0 <= 0 or args.epochs < 1:
        ap.error("--alpha must be >= 0, --eta0 > 0 and --epochs >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    params = {k: getattr(args, k) for k in ("loss", "alpha", "learning_rate", "eta0", "power_t")}
    stop_file = os.environ.get("SWEEP_STOP_FILE")
    last = [math.nan]

    def on_epoch(epoch, acc):
        last[0] = acc
        print("@sweep " + json.dumps({"metric": "accuracy", "value": acc, "step": epoch}), flush=True)
        if stop_file and os.path.exists(stop_file):
            print(f"train_digits.py: asked to stop after epoch {epoch}", file=sys.stderr)
            return True
        return False

    train(params, args.epochs, args.seed, on_epoch)
    if math.isnan(last[0]):
        print("train_digits.py: the weights overflowed", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
