"""Probes on frozen features: a linear model and MLPs with one or two hidden layers.

Features are standardised with train statistics. Each probe family searches a small
grid (in the spirit of JukeMIR's), each setting fit on train and scored on valid with
the dataset's primary metric; the best setting is scored on test once. Regression
targets are standardised for fitting and predictions mapped back to target units.

linear: multiclass -> multinomial logistic regression (C); multilabel -> one logistic
regression per tag (C); regression -> ridge (alpha). All scikit-learn.
mlp:    torch, Linear -> ReLU -> Dropout -> Linear, Adam with weight decay, minibatches,
        early stopping on the validation metric (patience in epochs), best epoch kept.
mlp2:   the same with two hidden layers of the same width (Linear -> ReLU -> Dropout twice),
        searched over the same grid: the "larger downstream model" of the probe-size sweep.

Extra test sets (the noisy copies of test) are scored with the setting chosen on the
clean valid split, so they never influence model selection.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

from myna_rpe.evaluation.datasets import Task
from myna_rpe.evaluation.metrics import Metric


@dataclass(frozen=True)
class ProbeGrid:
    linear_C: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    ridge_alpha: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
    mlp_hidden: tuple[int, ...] = (256, 512)
    mlp_lr: tuple[float, ...] = (1e-4, 1e-3)
    mlp_dropout: tuple[float, ...] = (0.25, 0.5)
    mlp_weight_decay: tuple[float, ...] = (0.0, 1e-3)
    mlp_batch_size: int = 64
    mlp_max_epochs: int = 200
    mlp_patience: int = 20


GRIDS: dict[str, ProbeGrid] = {
    "default": ProbeGrid(),
    # For smoke runs and tests: two linear settings and one MLP.
    "quick": ProbeGrid(
        linear_C=(0.01, 0.1, 1.0), ridge_alpha=(0.1, 1.0, 10.0, 100.0), mlp_hidden=(64,), mlp_lr=(1e-3,),
        mlp_dropout=(0.25,), mlp_weight_decay=(1e-3,), mlp_max_epochs=60, mlp_patience=10,
    ),
}


@dataclass
class Split:
    X: np.ndarray
    y: np.ndarray  # class ids (N,), 0/1 (N, L) or floats (N, T)


PROBE_FAMILIES = ("linear", "mlp", "mlp2")
HIDDEN_LAYERS = {"linear": 0, "mlp": 1, "mlp2": 2}


@dataclass
class ProbeResult:
    probe: str  # "linear" | "mlp" | "mlp2"
    params: dict[str, Any]  # the setting chosen on valid
    valid: dict[str, float]
    test: dict[str, float]
    grid: list[dict[str, Any]] = field(default_factory=list)  # every setting with its valid score
    extra: dict[str, dict[str, float]] = field(default_factory=dict)  # metrics on extra test sets, by name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Predictor = Callable[[np.ndarray], np.ndarray]


def run_probes(
    task: Task,
    n_outputs: int,
    train: Split,
    valid: Split,
    test: Split,
    metric: Metric,
    primary: str,
    grid: ProbeGrid = GRIDS["default"],
    seed: int = 0,
    device: str = "cpu",
    probes: tuple[str, ...] = ("linear", "mlp"),
    on_fit: Callable[[], None] | None = None,
    extra_tests: dict[str, Split] | None = None,
) -> list[ProbeResult]:
    unknown = [p for p in probes if p not in PROBE_FAMILIES]
    if unknown:
        raise ValueError(f"unknown probe {unknown[0]!r}; choose from {', '.join(PROBE_FAMILIES)}")
    extra_tests = extra_tests or {}
    scaler = StandardScaler().fit(train.X)
    Xtr, Xva, Xte = (scaler.transform(s.X).astype(np.float32) for s in (train, valid, test))
    ytr = train.y
    y_scale: StandardScaler | None = None
    if task == "regression":  # fit on standardised targets, predict in target units
        y_scale = StandardScaler().fit(train.y)
        ytr = y_scale.transform(train.y)

    def unscale(pred: np.ndarray) -> np.ndarray:
        return y_scale.inverse_transform(pred) if y_scale is not None else pred

    def valid_score(predict: Predictor) -> float:
        value = metric(valid.y, unscale(predict(Xva)))[primary]
        return value if math.isfinite(value) else -math.inf

    results = []
    for family in probes:
        settings = _linear_settings(task, grid) if family == "linear" else _mlp_settings(grid)
        scored = []
        for params in settings:
            if family == "linear":
                predict = _fit_linear(task, n_outputs, Xtr, ytr, params)
            else:
                predict = _fit_mlp(task, n_outputs, Xtr, ytr, params, grid, valid_score, seed, device, HIDDEN_LAYERS[family])
            scored.append((valid_score(predict), params, predict))
            if on_fit:
                on_fit()
        best_score, best_params, best_predict = max(scored, key=lambda s: s[0])  # first of ties
        results.append(
            ProbeResult(
                probe=family,
                params=best_params,
                valid=metric(valid.y, unscale(best_predict(Xva))),
                test=metric(test.y, unscale(best_predict(Xte))),
                grid=[{**p, "valid_" + primary: s} for s, p, _ in scored],
                extra={name: metric(split.y, unscale(best_predict(scaler.transform(split.X).astype(np.float32))))
                       for name, split in extra_tests.items()},
            )
        )
    return results


def grid_size(task: Task, grid: ProbeGrid, probes: tuple[str, ...] = ("linear", "mlp")) -> int:
    """How many probes `run_probes` fits (for a progress bar)."""
    return sum(len(_linear_settings(task, grid) if p == "linear" else _mlp_settings(grid)) for p in probes)


# -- linear ------------------------------------------------------------------------------


def _linear_settings(task: Task, grid: ProbeGrid) -> list[dict[str, Any]]:
    if task == "regression":
        return [{"alpha": a} for a in grid.ridge_alpha]
    return [{"C": c} for c in grid.linear_C]


def _fit_linear(task: Task, n_outputs: int, X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Predictor:
    if task == "regression":
        model = Ridge(alpha=params["alpha"]).fit(X, y)
        return lambda Xq: model.predict(Xq).reshape(len(Xq), -1)  # one target comes back 1-D
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # OneVsRest: a tag absent from train
        if task == "multilabel":
            model = OneVsRestClassifier(LogisticRegression(C=params["C"], max_iter=1000)).fit(X, y)
            return model.predict_proba
        model = LogisticRegression(C=params["C"], max_iter=1000).fit(X, y)
    classes = model.classes_

    def predict(Xq: np.ndarray) -> np.ndarray:  # columns for every label, 0 for classes unseen in train
        out = np.zeros((len(Xq), n_outputs))
        out[:, classes] = model.predict_proba(Xq)
        return out

    return predict


# -- MLP ---------------------------------------------------------------------------------


def _mlp_settings(grid: ProbeGrid) -> list[dict[str, Any]]:
    keys = ("hidden", "lr", "dropout", "weight_decay")
    values = (grid.mlp_hidden, grid.mlp_lr, grid.mlp_dropout, grid.mlp_weight_decay)
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _fit_mlp(
    task: Task,
    n_outputs: int,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    grid: ProbeGrid,
    valid_score: Callable[[Predictor], float],
    seed: int,
    device: str,
    layers: int = 1,
) -> Predictor:
    dev = torch.device(device)
    # Initialisation, dropout masks and batch order all come from `seed`; the caller's RNG is untouched.
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        return _train_mlp(task, n_outputs, X, y, params, grid, valid_score, dev, layers)


def _train_mlp(
    task: Task,
    n_outputs: int,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    grid: ProbeGrid,
    valid_score: Callable[[Predictor], float],
    dev: torch.device,
    layers: int,
) -> Predictor:
    blocks: list[torch.nn.Module] = []
    width = X.shape[1]
    for _ in range(layers):
        blocks += [torch.nn.Linear(width, params["hidden"]), torch.nn.ReLU(), torch.nn.Dropout(params["dropout"])]
        width = params["hidden"]
    net = torch.nn.Sequential(*blocks, torch.nn.Linear(width, n_outputs)).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    Xt = torch.as_tensor(X, device=dev)
    if task == "multiclass":
        yt, loss_fn = torch.as_tensor(y, dtype=torch.long, device=dev), torch.nn.functional.cross_entropy
    elif task == "multilabel":
        yt, loss_fn = torch.as_tensor(y, dtype=torch.float32, device=dev), torch.nn.functional.binary_cross_entropy_with_logits
    else:
        yt, loss_fn = torch.as_tensor(y, dtype=torch.float32, device=dev), torch.nn.functional.mse_loss

    @torch.no_grad()
    def predict(Xq: np.ndarray) -> np.ndarray:
        net.eval()
        out = net(torch.as_tensor(Xq, dtype=torch.float32, device=dev))
        if task == "multiclass":
            out = out.softmax(dim=1)
        elif task == "multilabel":
            out = out.sigmoid()
        return out.double().cpu().numpy()

    best, best_state, stale = -math.inf, copy.deepcopy(net.state_dict()), 0
    for _ in range(grid.mlp_max_epochs):
        net.train()
        order = torch.randperm(len(Xt)).to(dev)
        for start in range(0, len(Xt), grid.mlp_batch_size):
            idx = order[start : start + grid.mlp_batch_size]
            opt.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        score = valid_score(predict)
        if score > best:
            best, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= grid.mlp_patience:
                break
    net.load_state_dict(best_state)
    return predict
