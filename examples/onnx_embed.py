"""Embed audio files with an exported Myna-RPE graph, using onnxruntime, PyAV and numpy only.

    myna export onnx myna.onnx                       # once, where myna-rpe and torch are installed
    python examples/onnx_embed.py myna.onnx song.flac other.mp3 [--out emb.npy]

The graph holds the frontend (STFT, mel filterbank, dB, normalisation), so the caller only
decodes: mono float32 at the graph's sample rate (its metadata says which), as PyAV's
resampler gives it here — the same settings `myna_rpe.audio` uses. Clips shorter than
the graph's `min_samples` are zero-padded to it (their vectors then differ from torch's).
The vector is the dense pass over the whole track: `Embedder.load(..., budget=DENSE).embed_file(path)`.
"""

from __future__ import annotations

import argparse
import sys

import av
import numpy as np
import onnxruntime as ort


def decode(path: str, sample_rate: int) -> np.ndarray:
    """The file as mono float32 at `sample_rate`."""
    pieces = []
    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate,
                                      options={"rematrix_maxval": "1.0"})  # downmix without clipping
        for frame in container.decode(stream):
            pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", help="save the embeddings as .npy, one row per file")
    args = parser.parse_args()

    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    sample_rate, min_samples = int(meta["sample_rate"]), int(meta["min_samples"])
    dim = session.get_outputs()[0].shape[-1]
    rows, failed = [], 0
    for path in args.files:
        try:
            wave = decode(path, sample_rate)
        except (av.error.FFmpegError, OSError, IndexError) as exc:  # IndexError: no audio stream
            print(f"{path}: cannot decode ({exc}); its row is NaN", file=sys.stderr)
            rows.append(np.full(dim, np.nan, np.float32))
            failed += 1
            continue
        seconds = len(wave) / sample_rate
        if len(wave) < min_samples:
            print(f"{path}: {seconds:.2f} s is shorter than the graph's {min_samples / sample_rate:.1f} s: zero-padded, "
                  "so its vector is not the one `myna embed` gives (docs/onnx.md)", file=sys.stderr)
            wave = np.pad(wave, (0, min_samples - len(wave)))
        rows.append(session.run(["embedding"], {"wave": wave})[0])
        print(f"{path}: {seconds:.1f} s -> {rows[-1].shape[0]} dims, first {rows[-1][:4].round(3)}")
    if args.out:
        np.save(args.out, np.stack(rows))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
