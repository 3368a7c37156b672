"""Out-of-range values for the numeric options outside `playlist` (those are in
test_playlist_faults.py): one line naming the option and what to give, no traceback.

Option values the CLI checks before any work (cli/values.py) are usage errors, exit 2;
training settings are checked by TrainConfig (they also come from config files), exit 1.
"""

from __future__ import annotations

import pytest

from tests.cli_helpers import myna


@pytest.mark.parametrize(("args", "option", "expect"), [
    (["embed", "{wav}", "--offset", "-1"], "'--offset'", ">= 0"),
    (["embed", "{wav}", "--offset", "nan"], "'--offset'", "finite"),
    (["embed", "{wav}", "--offset", "1e18"], "'--offset'", "<= 1e+06"),
    (["embed", "{wav}", "--duration", "0"], "'--duration'", "> 0"),
    (["embed", "{wav}", "--duration", "-inf"], "'--duration'", "finite"),
    (["embed", "{wav}", "--out", "{tmp}/vectors"], "--out", "end the name with .npy"),
    (["embed", "{wav}", "--out", "{wav}"], "--out", "end the name with .npy"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--chunk-seconds", "nan"], "'--chunk-seconds'", "finite"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--chunk-seconds", "0"], "'--chunk-seconds'", "> 0"),
    (["spotify", "export", "{tmp}/x.m3u8", "--name", "x", "--tolerance", "nan"], "'--tolerance'", "finite"),
])
def test_option_values_checked_before_work_exit_2(args, option, expect, tmp_path, tone_file, capsys) -> None:
    wav = tone_file()
    args = [a.replace("{wav}", str(wav)).replace("{tmp}", str(tmp_path)) for a in args]
    before = sorted(tmp_path.iterdir())
    code, output = myna(capsys, *args)
    assert code == 2 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if "Invalid value" in x]
    assert option in line and expect in line, output
    assert sorted(tmp_path.iterdir()) == before  # nothing written


def test_embed_offset_past_the_end_is_one_red_line(tone_file, capsys) -> None:
    wav = tone_file(seconds=1.0)
    code, output = myna(capsys, "embed", str(wav), "--offset", "5")
    assert code == 1 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if x.startswith("error:")]
    assert str(wav) in line and "the track is shorter" in line and "smaller offset" in line


@pytest.mark.parametrize(("flags", "expect"), [
    (["--lr", "nan"], "lr is nan, not a finite number — give --lr a number"),
    (["--lr", "-0.001"], "lr -0.001 must be positive"),
    (["--lr", "0"], "lr 0.0 must be positive"),
    (["--temperature", "inf"], "temperature is inf"),
    (["--kmeans-weight", "0.1", "--kmeans-k", "100", "--batch-size", "4"],
     "kmeans_k 100 is more clusters than the 8 embeddings of a batch — use --kmeans-k 8 or less"),
    (["--kmeans-weight", "-1"], "must be >= 0"),
    (["--beta2", "1.5"], "beta2"),
    (["--mask-ratio", "nan"], "mask_ratio is nan"),
    (["--chunk-seconds", "-3"], "chunk length must be positive"),
])
def test_train_settings_out_of_range_are_one_red_line(flags, expect, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code, output = myna(capsys, "train", "--data", str(tmp_path), "--out", str(out), *flags)
    assert code == 1 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if x.startswith("error:")]
    assert expect in line, output
    assert not out.exists()
