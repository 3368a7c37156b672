"""The tables `myna eval` and `myna eval pyjama` print from a report: the model's rows, then
its baselines', for each dataset."""

from __future__ import annotations

from rich.table import Table

_ROLE = {"model": "model", "mfcc": "MFCC", "untrained": "untrained", "cqt": "CQT+chroma"}


def _rows(report: dict):
    """(dataset, feature-set label, result) with the model first, then its baselines."""
    sets = [("model", report["datasets"])] + [(role, b["datasets"]) for role, b in report["baselines"].items()]
    for name in report["datasets"]:
        for role, datasets in sets:
            if name in datasets:
                yield name, _ROLE.get(role, role), datasets[name]


def _score(result: dict, probe: str, split: str, key: str) -> str:
    value = result["probes"][probe][split][key]
    sd = result.get("fold_sd", {}).get(probe, {}).get(split, {}).get(key)
    return f"{value:.3f}" + (f"±{sd:.3f}" if sd is not None else "")


def results_table(report: dict) -> Table:
    table = Table(title=f"myna eval · {report['model']} · {report['features']}")
    for column, justify in (("dataset", "left"), ("features", "left"), ("probe", "left"), ("train/valid/test", "right"),
                            ("chosen on valid", "left"), ("valid", "right"), ("test", "left")):
        table.add_column(column, justify=justify)
    for name, role, result in _rows(report):
        sizes = "/".join(str(n) for n in result["sizes"].values())
        primary = result["primary_metric"]
        for probe, r in result["probes"].items():
            if "folds" in result:
                params = f"per fold ({result['folds']} folds, mean ± sd)"
            else:
                params = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items())
            test = "  ".join(f"{k} {_score(result, probe, 'test', k)}" for k in r["test"] if k != "tags_scored")
            table.add_row(name, role, probe, sizes, params, f"{primary} {_score(result, probe, 'valid', primary)}", test)
    return table


def fractions_table(report: dict) -> Table:
    fractions = [f"{f:g}" for f in report["label_fractions"]]
    table = Table(title=f"label fractions · test score, mean ± sd over {report['fraction_draws']} draws")
    for column in ("dataset", "features", "probe", *(f"{f} (n)" for f in fractions)):
        table.add_column(column)
    for name, role, result in _rows(report):
        primary = result["primary_metric"]
        points = result["label_fractions"]
        for probe in result["probes"]:
            cells = []
            for f in fractions:
                p = points[f]
                cells.append(f"{p['probes'][probe]['test_mean'][primary]:.3f}±{p['probes'][probe]['test_sd'][primary]:.3f} ({p['train_size']:.0f})")
            table.add_row(name, role, probe, *cells)
    return table


def noise_table(report: dict) -> Table:
    kinds, snrs = report["noise"]["kinds"], report["noise"]["snr_db"]
    table = Table(title="noise on the test audio · test score (drop from clean)")
    for column in ("dataset", "features", "probe", "clean", *(f"{k} {s:g} dB" for k in kinds for s in snrs)):
        table.add_column(column)
    for name, role, result in _rows(report):
        primary = result["primary_metric"]
        for probe, r in result["probes"].items():
            cells = [f"{r['noise'][k][f'{s:g}'][primary]:.3f} ({-r['noise_drop'][k][f'{s:g}']:+.3f})" for k in kinds for s in snrs]
            table.add_row(name, role, probe, f"{r['test'][primary]:.3f}", *cells)
    return table
