"""Out-of-range values for the numeric options outside `playlist` (those are in
test_playlist_faults.py): one line naming the option and what to give, no traceback.

Option values the CLI checks before any work (cli/values.py) are usage errors, exit 2.
Training settings are checked by TrainConfig (myna_rpe/training/config_checks.py): a bad
flag is a usage error too (exit 2, naming the flag); a bad value in a --config file is one
red line naming the file (exit 1).
"""

from __future__ import annotations

import pytest
import torch

from tests.cli_helpers import myna


@pytest.mark.parametrize(("args", "option", "expect"), [
    (["embed", "{wav}", "--offset", "-1"], "'--offset'", ">= 0"),
    (["embed", "{wav}", "--offset", "nan"], "'--offset'", "finite"),
    (["embed", "{wav}", "--offset", "1e18"], "'--offset'", "<= 1e+06"),
    (["embed", "{wav}", "--duration", "0"], "'--duration'", "> 0"),
    (["embed", "{wav}", "--duration", "-inf"], "'--duration'", "finite"),
    (["embed", "{wav}", "--out", "{tmp}/vectors"], "'--out'", "end the name with .npy"),
    (["embed", "{wav}", "--out", "{wav}"], "'--out'", "end the name with .npy"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--chunk-seconds", "nan"], "'--chunk-seconds'", "finite"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--chunk-seconds", "0"], "'--chunk-seconds'", "> 0"),
    (["spotify", "export", "{tmp}/x.m3u8", "--name", "x", "--tolerance", "nan"], "'--tolerance'", "finite"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--seed", "-1"], "'--seed'", "greater than or equal to 0"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--device", "bogus"], "'--device'", "not a device"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--out", "{tmp}"], "'--out'", "is a folder"),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--plot", "{tmp}/p.txt"], "'--plot'", "end the name with .png"),
    # a place no file can be made (as a read-only folder, even for root): refused before the run, not after
    (["eval", "gtzan", "--data-dir", "{tmp}", "--out", "/proc/myna/r.json"], "'--out'", "cannot be written ("),
    (["embed", "{wav}", "--out", "/proc/e.npy"], "'--out'", "cannot be written ("),
    (["eval", "gtzan", "--data-dir", "{tmp}", "--cache-dir", "{wav}"], "'--cache-dir'", "is a file"),
    (["index", "{tmp}", "--db", "{wav}"], "'--db'", "is a file: give a folder"),
    (["similar", "x", "--db", "{wav}"], "'--db'", "is a file: give a folder"),
    (["index", "{tmp}", "--device", "cuda:99"], "'--device'", "no such CUDA device"),
    (["index", "{tmp}", "--device", "auto"], "'--device'", "'auto' is not a device: give cpu, cuda, cuda:N or mps"),
    (["similar", "x", "--n", "0"], "'--n'", "greater than or equal to 1"),
    (["subsonic", "link", "--server", "http://127.0.0.1:99999"], "'--server'",
     "'http://127.0.0.1:99999': '99999' is not a port: give a number from 1 to 65535"),
    (["subsonic", "link", "--server", "http://[::1"], "'--server'", "'http://[::1' is not a URL (Invalid IPv6 URL)"),
    (["subsonic", "extend", "x", "--server", "http://h:0"], "'--server'", "'0' is not a port"),
    (["subsonic", "link", "--server", "http://a b"], "'--server'", "'http://a b' is not a URL"),
    (["subsonic", "link", "--server", "http://h/?f=json"], "'--server'", "has a ?query or #fragment"),
    (["subsonic", "login", "--server", "http://:4533", "--user", "u"], "'--server'", "has no host"),
    (["subsonic", "proxy", "--upstream", "ftp://h"], "'--upstream'", "'ftp://h' is not a URL"),
    (["subsonic", "link", "--device", "cuda:99"], "'--device'", "no such CUDA device"),
    (["subsonic", "link", "--prefix", "/srv="], "'--prefix'", "/srv=:  is no folder here"),
    (["subsonic", "extend", "x", "--name", "  "], "'--name'", "a playlist needs a name that is not blank"),
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


def test_a_subsonic_url_from_the_environment_is_checked_like_the_option(monkeypatch, capsys) -> None:
    monkeypatch.setenv("MYNA_SUBSONIC_URL", "notaurl")
    code, output = myna(capsys, "subsonic", "link")
    assert code == 2 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if "Invalid value" in x]
    assert "MYNA_SUBSONIC_URL" in line and "'notaurl' is not a URL" in line, output


def test_a_bad_stored_subsonic_url_names_the_file(capsys) -> None:
    from playlist.subsonic.credentials import login_path

    login_path().parent.mkdir(parents=True, exist_ok=True)
    login_path().write_text('{"url": "http://127.0.0.1:99999", "user": "u", "password": "p"}')
    code, output = myna(capsys, "subsonic", "link")
    assert code == 1 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if x.startswith("error:")]
    assert line == (f"error: {login_path()}: the stored Subsonic sign-in has a bad server URL: "
                    "'http://127.0.0.1:99999': '99999' is not a port: give a number from 1 to 65535 — "
                    "run `myna subsonic login --server URL` again"), output


def test_embed_offset_past_the_end_is_one_red_line(tone_file, capsys) -> None:
    wav = tone_file(seconds=1.0)
    code, output = myna(capsys, "embed", str(wav), "--offset", "5")
    assert code == 1 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if x.startswith("error:")]
    assert str(wav) in line and "the track is shorter" in line and "smaller offset" in line


@pytest.mark.parametrize(("flags", "option", "expect"), [
    (["--lr", "nan"], "--lr", "lr is nan, not a finite number — give --lr a number"),
    (["--lr", "-0.001"], "--lr", "lr -0.001 must be positive"),
    (["--lr", "0"], "--lr", "lr 0.0 must be positive"),
    (["--temperature", "inf"], "--temperature", "temperature is inf"),
    (["--kmeans-weight", "0.1", "--kmeans-k", "100", "--batch-size", "4"], "--kmeans-k",
     "kmeans_k 100 is more clusters than the 8 embeddings of a batch — use --kmeans-k 8 or less"),
    (["--kmeans-weight", "-1"], "--kmeans-weight", "must be at least 0"),
    (["--beta2", "1.5"], "--beta2", "beta2"),
    (["--mask-ratio", "nan"], "--mask-ratio", "mask_ratio is nan"),
    (["--chunk-seconds", "-3"], "--chunk-seconds", "chunk length must be positive"),
    (["--chunk-seconds", "1e9"], "--chunk-seconds", "must be at most 600"),
    (["--dim", "0"], "--dim", "dim is 0; it must be at least 1"),
    (["--seed", "-1"], "--seed", "seed is -1"),
    (["--device", "bogus"], "'--device'", "'bogus' is not a device: give cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:99"], "'--device'", "cuda:99: no such CUDA device here: give cpu"),
    pytest.param(["--device", "mps"], "'--device'", "mps: Apple's MPS is not available here: give cpu",
                 marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")),
    (["--steps", "0"], "--steps", "steps is 0"),
    (["--out", "{file}"], "'--out'", "is a file: give a folder"),
    (["--cache-workers", "-1"], "--cache-workers", "greater than or equal to 0"),
])
def test_train_flags_out_of_range_are_usage_errors(flags, option, expect, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    file = tmp_path / "file"
    file.write_text("x")
    flags = [f.replace("{file}", str(file)) for f in flags]
    code, output = myna(capsys, "train", "--data", str(tmp_path), *(() if "--out" in flags else ("--out", str(out))),
                        *flags)
    assert code == 2 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if "Invalid value" in x]
    assert option in line and expect in line, output
    assert not out.exists()


@pytest.mark.parametrize(("text", "expect"), [
    ("[model]\ndim = 0\n", "dim is 0"),
    ('[run]\ndevice = "cuda:99"\n', "device cuda:99: no such CUDA device here: give cpu"),
])
def test_a_bad_value_in_a_config_file_names_the_file(text, expect, tmp_path, capsys) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text)
    out = tmp_path / "run"
    code, output = myna(capsys, "train", "--data", str(tmp_path), "--out", str(out), "--config", str(config))
    assert code == 1 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if x.startswith("error:")]
    assert str(config) in line and expect in line, output
    assert not out.exists()
