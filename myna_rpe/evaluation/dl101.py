"""Datasets in the layout of the ISMIR 2024 tutorial "Deep Learning 101 for Audio-based MIR":
one `.hdf5` file holding all the audio and one `.pyjama` file holding all the annotations.

.hdf5: one dataset per entry, its key the entry's name, its array the waveform (mono; a
2-D array is taken as channels × samples or samples × channels, whichever axis is
shorter is the channels, and averaged), its attribute `sr_hz` the sample rate.

.pyjama (JSON): {"schemaversion": …, "collection": {"descriptiondefinition": {…},
"entry": [entry, …]}}. Each entry maps a description name to a list of atoms
{"value"[, "time", "duration", "confidence"]}; `filepath[0].value` is the entry's hdf5 key.

Probing a field (`myna eval pyjama --field F`):
  * multiclass – one text value per entry (a genre set like gtzan-genre's `tag`);
  * multilabel – the set of an entry's text values (a tag set like mtt's `tag`; or the
    labels of time segments such as `structure`);
  * regression – a number per entry; atoms with durations (`pitchmidi` notes) give their
    duration-weighted mean (the track's mean MIDI pitch).
Without --task it is regression for numbers, multilabel when any entry has several
distinct values, multiclass otherwise. Entries without the field are skipped (counted).
Split: when entries carry an `artist` field, whole artists go to train / valid / test
(no artist on both sides, the usual guard against artist effects), else entries are split
(stratified by class for multiclass); 70 / 10 / 20 % of entries, seeded.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import SPLITS, EvalDataset, Task, Track
from myna_rpe.fileio import expand_user

FRACTIONS = {"test": 0.2, "valid": 0.1}  # the rest is train


@dataclass(frozen=True)
class Entry:
    key: str  # the hdf5 key (filepath[0].value)
    fields: dict[str, list[dict[str, Any]]]


def read_pyjama(path: str | Path) -> list[Entry]:
    """The entries of a .pyjama file, each with its hdf5 key."""
    path = expand_user(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError("annotation file not found", path, "pass the dataset's .pyjama file as --annotations") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise DatasetError(f"not a JSON .pyjama file ({exc.__class__.__name__})", path,
                           "pass the .pyjama file that came with the dataset") from None
    entries = doc.get("collection", {}).get("entry") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise DatasetError("no collection.entry list: not a .pyjama file", path, "pass the .pyjama file of the dataset")
    out = []
    for i, entry in enumerate(entries):
        try:
            key = entry["filepath"][0]["value"]
        except (KeyError, IndexError, TypeError):
            raise DatasetError(f"entry {i} has no filepath[0].value", path, "every entry needs the hdf5 key of its audio") from None
        out.append(Entry(str(key), {k: v for k, v in entry.items() if isinstance(v, list)}))
    return out


def open_hdf5(path: Path, given_as: str = "--audio"):
    """An h5py File for reading, or a DatasetError naming the path (and `given_as`, how the
    command takes the file, in the fix)."""
    import h5py

    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise DatasetError("audio file not found", path, f"pass the dataset's .hdf5 file as {given_as}") from None
    except OSError as exc:
        raise DatasetError(f"not an HDF5 file ({str(exc)[:80]})", path, "pass the .hdf5 audio file of the dataset") from None


class Hdf5Audio:
    """Waveforms of a DL-101 .hdf5 file by key, mono float32 at `sample_rate`."""

    def __init__(self, path: str | Path, sample_rate: int, given_as: str = "--audio") -> None:
        self.path = expand_user(path)
        self.sample_rate = sample_rate
        self.file = open_hdf5(self.path, given_as)

    def keys(self) -> list[str]:
        out: list[str] = []
        self.file.visit(lambda name: out.append(name) if hasattr(self.file[name], "shape") else None)
        return out

    def raw(self, key: str) -> tuple[np.ndarray, int]:
        """(array as stored, sr_hz): numbers, at a rate from 4 kHz to 1 MHz."""
        node = self.file[key]
        if "sr_hz" not in node.attrs:
            raise DatasetError(f"audio {key!r} has no sr_hz attribute", self.path, "each dataset of the .hdf5 file needs its sample rate as sr_hz")
        try:
            rate = float(np.asarray(node.attrs["sr_hz"]).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            rate = math.nan
        if not (4000 <= rate <= 1_000_000 and rate == int(rate)):
            raise DatasetError(f"audio {key!r} has sr_hz {node.attrs['sr_hz']!r}, not a sample rate in Hz", self.path,
                               "store each waveform's rate as a whole number of Hz (e.g. 16000) in sr_hz")
        if not np.issubdtype(node.dtype, np.number):
            raise DatasetError(f"audio {key!r} holds {node.dtype} values, not samples", self.path,
                               "store each waveform as numbers")
        return node[()], int(rate)

    def wave(self, key: str) -> np.ndarray:
        array, rate = self.raw(key)
        return to_mono(array, rate, self.sample_rate)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "Hdf5Audio":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_mono(array: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """A stored waveform as mono float32 at `sample_rate` (integer PCM scaled to [-1, 1])."""
    from scipy.signal import resample_poly

    wave = np.asarray(array)
    if np.issubdtype(wave.dtype, np.integer):
        wave = wave / float(np.iinfo(wave.dtype).max)
    wave = wave.astype(np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=int(np.argmin(wave.shape)))
    wave = wave.reshape(-1)
    if rate != sample_rate:
        g = math.gcd(rate, sample_rate)
        wave = resample_poly(wave, sample_rate // g, rate // g).astype(np.float32)
    return wave


def content_key(array: np.ndarray, rate: int) -> str:
    """A stable id of one stored waveform (its bytes and rate), for caches."""
    h = hashlib.sha256(f"{array.dtype}:{array.shape}:{rate}:".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


# -- labels ----------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _values(entry: Entry, field: str) -> list[Any]:
    values = []
    for atom in entry.fields.get(field, []):
        if isinstance(atom, dict) and "value" in atom:
            if isinstance(atom["value"], list):
                raise DatasetError(f"field {field!r} holds matrix values (a breakpoint function)",
                                   fix="probe a field of text or number values")
            values.append(atom["value"])
    return values


def infer_task(entries: list[Entry], field: str) -> Task:
    values = [_values(e, field) for e in entries]
    flat = [v for vs in values for v in vs]
    if flat and all(_number(v) is not None for v in flat) and not all(isinstance(v, str) for v in flat):
        return "regression"
    return "multilabel" if any(len(set(map(str, vs))) > 1 for vs in values) else "multiclass"


def entry_label(entry: Entry, field: str, task: Task) -> Any:
    """The label of one entry for `task`; None when it has none."""
    atoms = [a for a in entry.fields.get(field, []) if isinstance(a, dict) and "value" in a]
    values = _values(entry, field)
    if not values:
        return None
    if task == "multiclass":
        distinct = sorted(set(map(str, values)))
        if len(distinct) > 1:
            raise DatasetError(f"entry {entry.key!r} has {len(distinct)} values for {field!r} ({', '.join(distinct[:3])})",
                               fix="use --task multilabel for a field with several values per entry")
        return distinct[0]
    if task == "multilabel":
        return sorted(set(map(str, values)))
    numbers = [_number(v) for v in values]
    if any(n is None for n in numbers):
        raise DatasetError(f"entry {entry.key!r} has a non-numeric {field!r} ({values[0]!r})",
                           fix="use --task multiclass or multilabel for a text field")
    weights = [float(a.get("duration", 1.0)) for a in atoms]
    if sum(weights) <= 0:
        weights = [1.0] * len(numbers)
    return (float(np.average(numbers, weights=weights)),)


# -- split -----------------------------------------------------------------------------


def split_indices(groups: list[str], strata: list[str] | None, seed: int) -> dict[str, list[int]]:
    """Indices per split: whole groups (artists) go to one split; without groups each entry
    is its own group, and with `strata` each class is split in the same proportions."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    cells: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, g in enumerate(groups):
        cells[strata[i] if strata else ""][g].append(i)
    for stratum in sorted(cells):
        members = cells[stratum]
        names = sorted(members)
        order = [names[j] for j in rng.permutation(len(names))]
        total = sum(len(members[g]) for g in names)
        # test, then valid, get their share (at least one group each when there are three or more)
        want = {s: max(1, round(f * total)) if len(order) >= 3 else 0 for s, f in FRACTIONS.items()}
        taken = {s: 0 for s in FRACTIONS}
        for g in order:
            target = next((s for s in FRACTIONS if taken[s] < want[s]), "train")
            if target != "train":
                taken[target] += len(members[g])
            out[target] += members[g]
    return {s: sorted(v) for s, v in out.items()}


def load_dl101(annotations: str | Path, audio: str | Path, field: str, task: Task | None = None,
               seed: int = 0) -> EvalDataset:
    """An EvalDataset of the entries annotated with `field` whose audio is in the hdf5 file."""
    entries = read_pyjama(annotations)
    audio = expand_user(audio)
    if not audio.is_file():
        raise DatasetError("audio file not found", audio, "pass the dataset's .hdf5 file as --audio")
    with open_hdf5(audio) as h5:
        missing = [e.key for e in entries if e.key not in h5]
    if len(missing) == len(entries):
        raise DatasetError(f"none of the {len(entries)} filepath values is a key of the audio file "
                           f"(first: {entries[0].key!r})" if entries else "the .pyjama file has no entries",
                           audio, "pass the .hdf5 file that goes with these annotations")
    known = sorted({k for e in entries for k in e.fields})
    annotated = [e for e in entries if e.key not in set(missing) and _values(e, field)]
    if not annotated:
        raise DatasetError(f"no entry has a {field!r} annotation", annotations,
                           f"choose --field from: {', '.join(k for k in known if k != 'filepath')}")
    task = task or infer_task(annotated, field)
    labels = [entry_label(e, field, task) for e in annotated]
    artists = [str((_values(e, "artist") or [""])[0]) for e in annotated]
    by_artist = "artist" in known and all(artists)
    groups = artists if by_artist else [e.key for e in annotated]
    index = split_indices(groups, labels if task == "multiclass" else None, seed)
    tracks = [Track(key=e.key, path=audio, label=lab) for e, lab in zip(annotated, labels)]
    if task == "regression":
        names = [field]
    elif task == "multiclass":
        names = sorted(set(labels))
    else:
        names = sorted({tag for lab in labels for tag in lab})
    notes = []
    skipped = len(entries) - len(annotated)
    if skipped:
        notes.append(f"{skipped} entries skipped ({len(missing)} without audio in the .hdf5 file, "
                     f"{skipped - len(missing)} without a {field!r} annotation)")
    how = "whole artists per split (artist field)" if by_artist else (
        "entries stratified by class" if task == "multiclass" else "entries at random")
    return EvalDataset(
        name=f"{Path(annotations).stem}:{field}", task=task, labels=names,
        splits={s: [tracks[i] for i in index[s]] for s in SPLITS},
        split_source=f"seeded 70/10/20 split (seed {seed}) of {how}", notes=notes,
    )


# -- features and probes ---------------------------------------------------------------


def wave_features(extractor: Any, wave: np.ndarray) -> np.ndarray:
    """What `extractor` (runner.make_extractor) computes for a file, for a waveform."""
    from myna_rpe.evaluation.features import MfccFeatures, chunk_average, mfcc_stats

    if isinstance(extractor, MfccFeatures):
        return mfcc_stats(wave, extractor.frontend, extractor.n_mfcc)
    embedder = extractor.embedder
    if extractor.protocol == "chunks":
        chunk = int(round(extractor.chunk_seconds * embedder.sample_rate))
        return chunk_average(embedder.embed_batch, wave, chunk)
    return np.asarray(embedder.embed_waveform(wave), dtype=np.float32)


def extractor_rate(extractor: Any) -> int:
    from myna_rpe.evaluation.features import MfccFeatures

    return extractor.frontend.sample_rate if isinstance(extractor, MfccFeatures) else extractor.embedder.sample_rate


def evaluate_dl101(dataset: EvalDataset, audio: str | Path, extractor: Any, cache: Any = None, grid: str = "default",
                   seed: int = 0, device: str = "cpu", start: Callable[[str, int], None] = lambda d, n: None,
                   advance: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Probe frozen features of a DL-101 dataset; the same report shape as `myna eval`."""
    from myna_rpe.evaluation.metrics import metric_for
    from myna_rpe.evaluation.probes import GRIDS, Split, grid_size, run_probes

    X: dict[str, np.ndarray] = {}
    computed = 0
    start(f"{dataset.name}: features", sum(dataset.sizes().values()))
    with Hdf5Audio(audio, extractor_rate(extractor)) as h5:
        for split in SPLITS:
            rows = []
            for track in dataset.splits[split]:
                array, rate = h5.raw(track.key)
                key = f"{track.key}:{content_key(array, rate)}"
                vector = cache.get(extractor.id, "dl101", key) if cache is not None else None
                if vector is None:
                    wave = to_mono(array, rate, h5.sample_rate)
                    if not len(wave):
                        raise DatasetError(f"audio {track.key!r} is empty", h5.path, "remove the entry or restore its audio")
                    vector = wave_features(extractor, wave)
                    computed += 1
                    if cache is not None:
                        cache.put(extractor.id, "dl101", key, vector)
                rows.append(vector)
                advance()
            X[split] = np.stack(rows).astype(np.float32)
    metric, primary = metric_for(dataset)
    start(f"{dataset.name}: probes", grid_size(dataset.task, GRIDS[grid]))
    results = run_probes(dataset.task, len(dataset.labels), *(Split(X[s], dataset.targets(s)) for s in SPLITS),
                         metric=metric, primary=primary, grid=GRIDS[grid], seed=seed, device=device, on_fit=advance)
    notes = list(dataset.notes)
    return {
        "task": dataset.task, "primary_metric": primary, "split_source": dataset.split_source,
        "sizes": dataset.sizes(), "notes": notes, "failed_tracks": [], "feature_dim": int(X["train"].shape[1]),
        "features_computed": computed, "probes": {r.probe: r.to_dict() for r in results},
    }


__all__ = ["Entry", "Hdf5Audio", "read_pyjama", "load_dl101", "infer_task", "entry_label", "split_indices",
           "evaluate_dl101", "to_mono", "content_key"]
