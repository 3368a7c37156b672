"""PNG figures of an evaluation report: score against probe size, label fraction and SNR,
and (for the data-size sweep) against pretraining minutes.

One line per feature set: the model, then the baselines the report carries (MFCC, the
untrained encoder, CQT+chroma on notes). Scores are the dataset's primary test metric;
for the fraction and noise panels, each feature set's probe is the one chosen on valid
with all the training labels. Matplotlib's object API with the Agg canvas: no pyplot,
no display, no global state.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from myna_rpe.evaluation.probes import HIDDEN_LAYERS
from myna_rpe.fileio import atomic_write_bytes

LABELS = {"mfcc": "MFCC", "untrained": "untrained encoder", "cqt": "CQT + chroma"}
STYLES = {"model": ("C0", "o"), "mfcc": ("C1", "s"), "untrained": ("C2", "^"), "cqt": ("C3", "D")}
NOISE_LINES = {"white": "-", "pink": "--"}


def feature_sets(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(role, legend label, results by dataset) for the model and each baseline."""
    out = [("model", f"model: {Path(report['model']).name or report['model']}", report["datasets"])]
    for role, result in report.get("baselines", {}).items():
        out.append((role, LABELS.get(role, role), result["datasets"]))
    return out


def chosen_probe(result: dict[str, Any]) -> str:
    """The probe family with the best valid score on the full training split."""
    primary = result["primary_metric"]
    return max(result["probes"], key=lambda p: _finite(result["probes"][p]["valid"][primary]))


def _finite(v: Any) -> float:
    return v if isinstance(v, (int, float)) and math.isfinite(v) else -math.inf


def _figure(rows: int, cols: int, width: float = 4.6, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return atomic_write_bytes(path, buffer.getvalue())


def panels_of(report: dict[str, Any]) -> list[str]:
    return ["probe"] + (["fraction"] if report.get("label_fractions") else []) + (["noise"] if report.get("noise") else [])


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """One row per dataset; columns: probe size, then label fraction and SNR when the report has them."""
    panels = panels_of(report)
    names = list(report["datasets"])
    fig = _figure(len(names), len(panels))
    sets = feature_sets(report)
    for i, name in enumerate(names):
        for j, panel in enumerate(panels):
            ax = fig.add_subplot(len(names), len(panels), i * len(panels) + j + 1)
            primary = report["datasets"][name]["primary_metric"]
            for role, label, datasets in sets:
                if name in datasets:
                    _DRAW[panel](ax, datasets[name], role, label)
            ax.set_title(f"{name}: {_TITLES[panel]}", fontsize=10)
            ax.set_ylabel(f"test {primary}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def _draw_probe(ax, result: dict[str, Any], role: str, label: str) -> None:
    primary = result["primary_metric"]
    families = [p for p in HIDDEN_LAYERS if p in result["probes"]]
    x = [HIDDEN_LAYERS[p] for p in families]
    y = [result["probes"][p]["test"][primary] for p in families]
    sd = [result.get("fold_sd", {}).get(p, {}).get("test", {}).get(primary, 0.0) for p in families]
    color, marker = STYLES.get(role, ("C4", "x"))
    ax.errorbar(x, y, yerr=sd, color=color, marker=marker, label=label, capsize=3)
    ax.set_xticks([0, 1, 2], ["linear", "1 hidden", "2 hidden"])
    ax.set_xlabel("probe")


def _draw_fraction(ax, result: dict[str, Any], role: str, label: str) -> None:
    primary, probe = result["primary_metric"], chosen_probe(result)
    points = sorted(result["label_fractions"].values(), key=lambda p: p["fraction"])
    x = [p["fraction"] for p in points]
    y = [p["probes"][probe]["test_mean"][primary] for p in points]
    sd = [p["probes"][probe]["test_sd"][primary] for p in points]
    color, marker = STYLES.get(role, ("C4", "x"))
    ax.plot(x, y, color=color, marker=marker, label=f"{label} ({probe})")
    ax.fill_between(x, [a - b for a, b in zip(y, sd)], [a + b for a, b in zip(y, sd)], color=color, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of train labels (mean ± sd over draws)")


def _draw_noise(ax, result: dict[str, Any], role: str, label: str) -> None:
    primary, probe = result["primary_metric"], chosen_probe(result)
    entry = result["probes"][probe]
    color, marker = STYLES.get(role, ("C4", "x"))
    for kind, by_snr in entry["noise"].items():
        snrs = sorted(by_snr, key=float, reverse=True)
        x = list(range(len(snrs) + 1))
        y = [entry["test"][primary]] + [by_snr[s][primary] for s in snrs]
        ax.plot(x, y, color=color, marker=marker, linestyle=NOISE_LINES.get(kind, ":"), label=f"{label}, {kind} ({probe})")
        ax.set_xticks(x, ["clean"] + [f"{s} dB" for s in snrs])
    ax.set_xlabel("SNR of the test audio (probe trained clean)")


_DRAW = {"probe": _draw_probe, "fraction": _draw_fraction, "noise": _draw_noise}
_TITLES = {"probe": "score vs probe size", "fraction": "score vs label fraction", "noise": "score vs noise"}


def plot_minutes(points: list[tuple[float, float]], references: dict[str, float], path: str | Path,
                 title: str, ylabel: str) -> Path:
    """The data-size sweep: score against pretraining minutes (log axis), references as horizontal lines."""
    fig = _figure(1, 1, width=7.0, height=4.2)
    ax = fig.add_subplot(1, 1, 1)
    points = sorted(points)
    ax.plot([m for m, _ in points], [s for _, s in points], color="C0", marker="o", label="pretrained model")
    for k, (name, score) in enumerate(references.items()):
        ax.axhline(score, color=f"C{k + 1}", linestyle="--", label=name)
    ax.set_xscale("log")
    ax.set_xticks([m for m, _ in points], [f"{m:.3g}" for m, _ in points])
    ax.minorticks_off()
    ax.set_xlabel("pretraining audio (minutes)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
