#!/usr/bin/env python3
"""Convert MusiCNN's TF1 checkpoints (from the `musicnn` wheel) to safetensors for the PyTorch port,
and record the original's outputs on the reference clips as the test fixture.

TensorFlow is needed here only; the project and its tests run the port. In a separate venv:

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf_keras librosa safetensors 'numpy<2'
    /tmp/tfenv/bin/pip install musicnn --no-deps
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python scripts/convert_musicnn.py

Writes myna_rpe/teacher/weights/{msd,mtt}_musicnn.safetensors and
tests/fixtures/musicnn_reference.npz (per clip: the original frontend's float16 mel; per clip and
model: taggram, penultimate, mean_pool, max_pool per 3-s patch from the original graph).

numpy 1.x is asked for because the original's frontend depends on it: it rounds the mel to
float16 and then computes `log10(10000 * mel + 1)`, which numpy 1.x promotes to float32 but
numpy 2 keeps in float16, where loud bins overflow to inf.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import librosa  # noqa: E402
import musicnn  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from musicnn import models  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from myna_rpe.teacher.reference_clips import SAMPLE_RATE, reference_clips  # noqa: E402

MODELS = {"MSD_musicnn": "msd_musicnn.safetensors", "MTT_musicnn": "mtt_musicnn.safetensors"}
PATCH_FRAMES = 187

# TF variable prefixes in creation order -> the port's module names
CONVS = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "mid.0", "mid.1", "mid.2"]
BNS = ["input_bn", "timbral.0.bn", "timbral.1.bn", "temporal.0.bn", "temporal.1.bn", "temporal.2.bn",
       "mid.0.bn", "mid.1.bn", "mid.2.bn", "pool_bn", "dense_bn"]


def tf_name(base: str, i: int) -> str:
    return base if i == 0 else f"{base}_{i}"


def convert(ckpt_dir: Path) -> dict[str, np.ndarray]:
    # The `checkpoint` file names its author's machine, so read the bundle directly.
    reader = tf.compat.v1.train.NewCheckpointReader(str(ckpt_dir) + "/")
    shapes = reader.get_variable_to_shape_map()
    names = [n for n in shapes if "Adam" not in n and "beta1_power" not in n and "beta2_power" not in n]
    prefix = next(n.split("conv2d/")[0] for n in names if "conv2d/kernel" in n and "conv2d_" not in n)
    get = lambda n: reader.get_tensor(prefix + n).astype(np.float32)  # noqa: E731
    out: dict[str, np.ndarray] = {}
    for i, mod in enumerate(CONVS):
        out[f"{mod}.conv.weight"] = get(f"{tf_name('conv2d', i)}/kernel").transpose(3, 2, 0, 1).copy()
        out[f"{mod}.conv.bias"] = get(f"{tf_name('conv2d', i)}/bias")
    for i, mod in enumerate(BNS):
        base = tf_name("batch_normalization", i)
        out[f"{mod}.weight"] = get(f"{base}/gamma")
        out[f"{mod}.bias"] = get(f"{base}/beta")
        out[f"{mod}.running_mean"] = get(f"{base}/moving_mean")
        out[f"{mod}.running_var"] = get(f"{base}/moving_variance")
        out[f"{mod}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    for mod, base in (("dense", "dense"), ("logits", "dense_1")):
        out[f"{mod}.weight"] = get(f"{base}/kernel").T.copy()
        out[f"{mod}.bias"] = get(f"{base}/bias")
    used = {k for k in names}
    n_params = sum(int(np.prod(shapes[n])) for n in used)
    print(f"{ckpt_dir.name}: {len(used)} tensors, {n_params:,} parameters")
    return out


def original_mel(wave: np.ndarray) -> np.ndarray:
    """The original's batch_data on a 16-kHz wave (no resampling) up to its float16 mel."""
    rep = librosa.feature.melspectrogram(y=wave, sr=SAMPLE_RATE, hop_length=256, n_fft=512, n_mels=96).T
    return rep.astype(np.float16)


def original_input(mel16: np.ndarray) -> np.ndarray:
    """... then its log (in float32, as numpy 1.x computes it) and 3-s patches."""
    rep = np.log10(10000 * mel16.astype(np.float32) + 1)
    n = rep.shape[0] // PATCH_FRAMES
    return rep[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, 96)


def run_original(model: str, batches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, 96])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(x, is_training, model, 50)
        tags = tf.nn.sigmoid(y)
    sess = tf.compat.v1.Session()
    tf.compat.v1.train.Saver().restore(sess, str(Path(musicnn.__file__).parent / model) + "/")
    out = {}
    for clip, batch in batches.items():
        t, p, mean, mx = sess.run([tags, penultimate, mean_pool, max_pool], {x: batch, is_training: False})
        for k, v in (("taggram", t), ("penultimate", p), ("mean_pool", mean), ("max_pool", mx)):
            out[f"{model}/{clip}/{k}"] = v.astype(np.float32)
    sess.close()
    return out


def main() -> None:
    weights = ROOT / "myna_rpe" / "teacher" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for model, fname in MODELS.items():
        state = convert(Path(musicnn.__file__).parent / model)
        save_file(state, str(weights / fname), metadata={"source": f"musicnn 0.1.0 wheel, {model}", "licence": "ISC"})
    mels = {name: original_mel(w) for name, w in reference_clips().items()}
    batches = {name: original_input(m) for name, m in mels.items()}
    fixture: dict[str, np.ndarray] = {}
    for model in MODELS:
        fixture.update(run_original(model, batches))
    for name, mel in mels.items():
        fixture[f"mel16/{name}"] = mel  # the original's float16 mel, before its log: exact
    dest = ROOT / "tests" / "fixtures" / "musicnn_reference.npz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, **fixture)
    print(f"wrote {weights}/ and {dest} ({dest.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
