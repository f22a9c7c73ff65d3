#!/usr/bin/env python3
"""A small, real training script for sweep's examples: Python standard library only.

Trains a logistic-regression classifier by mini-batch gradient descent on a generated,
noisy two-class problem and reports validation accuracy and loss after every epoch with
sweep's metric protocol (one `@sweep {...}` line per report on stdout). It honours
SWEEP_STOP_FILE (stops cleanly when sweep asks) and writes its final weights to
SWEEP_OUTPUT_DIR.

Every hyperparameter of the example configs is a flag here; unknown flags are reported and
ignored so that any example config can drive it.
"""

import argparse
import json
import math
import os
import random
import sys


def make_data(n, dim, seed):
    """Two overlapping Gaussian blobs with a few uninformative features."""
    rng = random.Random(seed)
    w_true = [rng.gauss(0, 1) if i < dim // 2 else 0.0 for i in range(dim)]
    xs, ys = [], []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(dim)]
        logit = sum(a * b for a, b in zip(w_true, x)) + rng.gauss(0, 0.8)
        xs.append(x)
        ys.append(1 if logit > 0 else 0)
    return xs, ys


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def evaluate(w, b, xs, ys):
    loss, correct = 0.0, 0
    for x, y in zip(xs, ys):
        p = sigmoid(sum(a * c for a, c in zip(w, x)) + b)
        p = min(max(p, 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == (y == 1)
    return correct / len(ys), loss / len(ys)


def report(metric, value, step):
    print("@sweep " + json.dumps({"metric": metric, "value": value, "step": step}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learning_rate", "--lr", type=float, default=0.1)
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--penalty", type=float, default=0.0, help="L2 regularisation strength")
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--optimizer", choices=["sgd", "momentum", "adagrad"], default="sgd")
    ap.add_argument("--init_scale", type=float, default=0.01)
    ap.add_argument("--lr_decay", type=float, default=0.0)
    ap.add_argument("--features", type=int, default=12)
    ap.add_argument("--data_seed", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    args, unknown = ap.parse_known_args()
    if unknown:
        print(f"train.py: ignoring unknown arguments {unknown}", file=sys.stderr)

    xs, ys = make_data(600, args.features, args.data_seed)
    train_x, train_y = xs[:400], ys[:400]
    val_x, val_y = xs[400:], ys[400:]
    rng = random.Random(args.seed)
    dim = len(train_x[0])
    w = [rng.gauss(0, args.init_scale) for _ in range(dim)]
    b = 0.0
    vel = [0.0] * (dim + 1)
    hist = [1e-8] * (dim + 1)
    batch = max(1, args.batch_size)
    stop_file = os.environ.get("SWEEP_STOP_FILE")
    order = list(range(len(train_x)))

    for epoch in range(1, args.epochs + 1):
        lr = args.learning_rate / (1.0 + args.lr_decay * (epoch - 1))
        rng.shuffle(order)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            gw = [0.0] * dim
            gb = 0.0
            for i in idx:
                x = train_x[i]
                err = sigmoid(sum(a * c for a, c in zip(w, x)) + b) - train_y[i]
                for j in range(dim):
                    gw[j] += err * x[j]
                gb += err
            grads = [g / len(idx) + args.penalty * wj for g, wj in zip(gw, w)] + [gb / len(idx)]
            params = w + [b]
            for j, g in enumerate(grads):
                if args.optimizer == "momentum":
                    vel[j] = args.momentum * vel[j] - lr * g
                    params[j] += vel[j]
                elif args.optimizer == "adagrad":
                    hist[j] += g * g
                    params[j] -= lr * g / math.sqrt(hist[j])
                else:
                    params[j] -= lr * g
            w, b = params[:dim], params[dim]
        if not all(math.isfinite(v) for v in w):
            print("train.py: weights diverged", file=sys.stderr)
            report("accuracy", float("nan"), epoch)
            return 3
        acc, loss = evaluate(w, b, val_x, val_y)
        report("accuracy", acc, epoch)
        report("val_loss", loss, epoch)
        if stop_file and os.path.exists(stop_file):
            print(f"train.py: asked to stop after epoch {epoch}", file=sys.stderr)
            break

    out = os.environ.get("SWEEP_OUTPUT_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "model.json"), "w") as f:
            json.dump({"w": w, "b": b}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
