#!/usr/bin/env bash
# Rebuild the training set from Debian's game packages and retrain the default model that
# ships in myna_rpe/pretrained/, then measure it on the held-out games. One command:
#
#     scripts/train_default_model.sh
#
# Settings come from the environment (defaults below); extra arguments go to `myna train`:
#     STEPS=4000 DEVICE=cuda scripts/train_default_model.sh --lr 3e-4
#
#   DATA      the training/held-out set             (runs/default-data)
#   DEB_CACHE downloaded .debs, extracted trees, LMMS renders  (~/.cache/myna-rpe/debs)
#   RUNS      run folders, one per positional scheme (runs/default-model); each run of this
#             script retrains from scratch, replacing the folders of the schemes it trains
#   SIZE, PE  the shipped model                      (mini, alibi2d)
#   VARIANTS  further schemes trained the same way for the comparison ("alibi1d none"; "" = skip)
#   STEPS, BATCH, SEED, DEVICE                       (2000, 32, 0, auto)
#   CHUNK_MIN, CHUNK_MAX, MASK  view length range (s) and patchout ratio  (5, 60, 0.85)
#             Longer, variable views than Myna's 3 s / 90 %: the model embeds whole tracks
#             under a token budget, i.e. sparsely (docs/default_model.md, "Candidates").
#   HULL      weight of the convex-hull (spread) loss                              (0.1)
#   ALBUM     chance that a pair's second view is another track of the same folder (0.5)
#   DISTILL   teacher[:layer] to distil from (`--distill`, e.g. musicnn-msd:max_pool; "" = contrastive
#             only, as the shipped weights; no distilled candidate beat them: docs/default_model.md)  ("")
#   DISTILL_WEIGHT, DISTILL_STRIDE  its loss weight and teacher patch stride          (1.0, 2)
#   WHOLE     chance that a step's views are whole tracks (`--whole-track-p`)          (0)
#   RESTARTS  step totals to continue to after STEPS, each a warm restart of the cosine
#             schedule (`myna train --resume --steps N`)                       ("3000")
#   GPL2_ONLY 1 = train only on music whose licences combine under GPL-2 (drops CC-BY-SA)  (0)
#   RENDER    1 = render the symbolic music: LMMS projects (`lmms`), tracker modules (`openmpt123`)
#             and MIDI (`fluidsynth` + GM soundfonts); 0 = leave them out            (1)
#   INSTALL   1 = copy the trained weights into PRETRAINED                         (1)
#   PRETRAINED  where the shipped model lives                                    (myna_rpe/pretrained)
#   BENCH     1 = run benchmarks/bench_retrieval.py at the end                      (1)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
MYNA=${MYNA:-myna}
DATA=${DATA:-runs/default-data}
RUNS=${RUNS:-runs/default-model}
SIZE=${SIZE:-mini}
PE=${PE:-alibi2d}
VARIANTS=${VARIANTS-alibi1d none}
STEPS=${STEPS:-2000}
BATCH=${BATCH:-32}
SEED=${SEED:-0}
DEVICE=${DEVICE:-auto}
CHUNK_MIN=${CHUNK_MIN:-5}
CHUNK_MAX=${CHUNK_MAX:-60}
MASK=${MASK:-0.85}
HULL=${HULL:-0.1}
ALBUM=${ALBUM:-0.5}
RESTARTS=${RESTARTS-3000}
DISTILL=${DISTILL-}
DISTILL_WEIGHT=${DISTILL_WEIGHT:-1.0}
DISTILL_STRIDE=${DISTILL_STRIDE:-2}
WHOLE=${WHOLE:-0}
RENDER=${RENDER:-1}
GPL2_ONLY=${GPL2_ONLY:-0}
INSTALL=${INSTALL:-1}
PRETRAINED=${PRETRAINED:-myna_rpe/pretrained}
BENCH=${BENCH:-1}

build_args=(--out "$DATA")
[[ -z "${DEB_CACHE:-}" ]] || build_args+=(--cache "$DEB_CACHE")
[[ "$RENDER" == 1 ]] || build_args+=(--no-render)
[[ "$GPL2_ONLY" == 0 ]] || build_args+=(--gpl2-compatible)
"$PYTHON" scripts/build_training_set.py "${build_args[@]}"

train() {  # $1 = positional scheme; further arguments go to `myna train`
  local pe=$1; shift
  rm -rf "${RUNS:?}/$pe"
  "$MYNA" train --data "$DATA/train" --out "$RUNS/$pe" --size "$SIZE" --pe "$pe" \
    --steps "$STEPS" --batch-size "$BATCH" --seed "$SEED" --device "$DEVICE" \
    --chunk-min-seconds "$CHUNK_MIN" --chunk-max-seconds "$CHUNK_MAX" --mask-ratio "$MASK" \
    --hull-weight "$HULL" --album-positives "$ALBUM" --min-track-seconds 30 --whole-track-p "$WHOLE" \
    ${DISTILL:+--distill "$DISTILL" --distill-weight "$DISTILL_WEIGHT" --distill-patch-stride "$DISTILL_STRIDE"} "$@"
  for total in $RESTARTS; do
    "$MYNA" train --out "$RUNS/$pe" --resume --steps "$total"
  done
}

train "$PE" "$@"
for pe in $VARIANTS; do
  [[ "$pe" == "$PE" ]] || train "$pe" "$@"
done

if [[ "$INSTALL" == 1 ]]; then
  dest=$PRETRAINED
  mkdir -p "$dest"
  cp -L "$RUNS/$PE/checkpoint/model.safetensors" "$RUNS/$PE/checkpoint/config.json" "$dest/"
  # The attribution list the licences ask for: every training track, its authors and licence.
  "$PYTHON" - "$DATA/manifest.tsv" "$dest/training_tracks.tsv" <<'EOF'
import csv, sys
src, dst = sys.argv[1], sys.argv[2]
cols = ("package", "source", "duration_s", "licence", "copyright", "sha256")
with open(src, encoding="utf-8") as fh, open(dst, "w", encoding="utf-8", newline="") as out:
    w = csv.writer(out, delimiter="\t", lineterminator="\n")
    w.writerow(cols)
    for row in csv.DictReader(fh, delimiter="\t"):
        if row["split"] == "train":
            w.writerow([row[c] for c in cols])
EOF
  echo "installed $RUNS/$PE/checkpoint into $dest/"
fi

if [[ "$BENCH" == 1 ]]; then
  ckpts=(--checkpoint "$PE=$RUNS/$PE/checkpoint")
  for pe in $VARIANTS; do
    [[ "$pe" == "$PE" ]] || ckpts+=(--checkpoint "$pe=$RUNS/$pe/checkpoint")
  done
  "$PYTHON" benchmarks/bench_retrieval.py --data "$DATA/validation" "${ckpts[@]}" --json "$RUNS/retrieval.json"
fi
