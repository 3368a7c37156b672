"""Downstream evaluation: probe frozen embeddings on GTZAN, GiantSteps Key, EmoMusic,
MagnaTagATune, NSynth and TinySOL.

`runner.run_eval` is the entry point (the CLI's `myna eval` is a thin wrapper); one
module per dataset reads its published layout; `features` turns tracks into vectors
(the encoder, whole or chunked, or an MFCC baseline; `cqt` the constant-Q + chroma
baseline) with a cache; `probes` fits the linear and MLP probes; `metrics` wraps
scikit-learn and mir_eval; `fractions` draws label subsets, `noise` adds test-audio
noise, `plots` draws reports.
"""

from myna_rpe.evaluation.datasets import EvalDataset, Track
from myna_rpe.evaluation.runner import DATASET_NAMES, EvalConfig, run_eval, write_report

__all__ = ["DATASET_NAMES", "EvalConfig", "EvalDataset", "Track", "run_eval", "write_report"]
