"""`myna index` and `myna similar` as a user runs them (subprocesses, real exit codes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playlist.library.lock import LibraryLock
from tests.library_helpers import GOOD_FILES, make_test_library, save_tiny_checkpoint

MYNA = [sys.executable, "-c", "from cli.app import main; main()"]


def myna(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([*MYNA, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A library indexed once through the CLI, and its checkpoint."""
    base = tmp_path_factory.mktemp("cli")
    root = make_test_library(base / "lib").root
    ckpt = save_tiny_checkpoint(base / "ckpt")
    result = myna("index", root, "--checkpoint", ckpt, "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "embedded" in result.stdout and "see `myna index" in result.stderr
    return root, ckpt


def test_status_errors_and_rerun(indexed: tuple[Path, Path]) -> None:
    root, ckpt = indexed
    status = myna("index", root, "--status")
    assert status.returncode == 0, status.stderr
    assert f"tracks   │ {len(GOOD_FILES)} " in status.stdout and "errors   │ 3 " in status.stdout
    assert "flat, up to date" in status.stdout and "last run" in status.stdout
    errors = myna("index", "--errors", cwd=root / "Band")  # the store is found above the cwd
    assert errors.returncode == 0, errors.stderr
    for rel in ("broken/corrupt.mp3", "broken/empty.flac", "broken/not audio.ogg"):
        assert rel in errors.stdout
    rerun = myna("index", root, "-c", ckpt, "--workers", "0")
    assert rerun.returncode == 0 and "│ embedded                  │ 0 " in rerun.stdout


def test_similar_by_tags_and_by_path(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = indexed
    by_label = myna("similar", "Ärtist - Söng", "--n", "3", "--library", root)
    assert by_label.returncode == 0, by_label.stderr
    rows = [line for line in by_label.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 3 and "01 Söng.mp3" not in "".join(rows)
    assert "similar to Ärtist - Söng" in by_label.stdout
    by_path = myna("similar", root / "日本" / "曲.mp3", "-n", "20", cwd=tmp_path)  # store found from the path
    assert by_path.returncode == 0, by_path.stderr
    assert len([line for line in by_path.stdout.splitlines() if line.startswith("│")]) == len(GOOD_FILES) - 1


def test_similar_writes_an_instant_mix_and_prints_json(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    import json

    from playlist.m3u import read_m3u

    root, _ = indexed
    mix = tmp_path / "mixes" / "mix.m3u8"
    result = myna("similar", "Ärtist - Söng", "-n", "3", "--library", root, "--json", "--out", mix)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3 and rows[0]["cosine"] >= rows[1]["cosine"] >= rows[2]["cosine"]
    assert all(Path(r["path"]).is_file() and r["path"].startswith(str(root)) for r in rows)
    entries = read_m3u(mix)  # the track itself first, then the results in their order
    assert [e.path for e in entries] == [(root / "Ärtist" / "Älbum" / "01 Söng.mp3").resolve(), *(Path(r["path"]).resolve() for r in rows)]
    assert "../" in mix.read_text(encoding="utf-8")  # relative to the playlist's folder
    bad = myna("similar", "Ärtist - Söng", "--library", root, "--out", tmp_path / "mix.txt")
    assert bad.returncode == 2 and "end the name with .m3u8 or .m3u" in bad.stderr


def test_similar_failures_are_one_line(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = indexed
    one_line_error(myna("similar", "no such song", "--library", root), "no track matches")
    one_line_error(myna("similar", "Ärtist", "--library", root), "tracks match", "be more specific")
    one_line_error(myna("similar", "x", cwd=tmp_path), "no library store found", "no default library set")
    typo = root / "日本" / "曲 .mp3"  # a mistyped path finds its library from the folders it names
    one_line_error(myna("similar", typo, cwd=tmp_path), f"{typo}: no such file", f"the library is {root}")
    one_line_error(myna("index", tmp_path, "--status"), "no library index here")


def test_concurrent_run_is_refused_with_one_line(indexed: tuple[Path, Path]) -> None:
    root, ckpt = indexed
    with LibraryLock(root / ".myna"):
        one_line_error(myna("index", root, "-c", ckpt), "another `myna index`", f"pid {os.getpid()}")


def test_rebuild_index_with_another_type(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = indexed
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)
    result = myna("index", lib, "--rebuild-index", "--index-type", "hnsw")
    assert result.returncode == 0 and f"{len(GOOD_FILES)} tracks" in result.stdout
    assert "hnsw, up to date" in myna("index", lib, "--status").stdout
    back = myna("index", lib, "--rebuild-index", "--index-type", "auto")  # the default, chosen again
    assert back.returncode == 0, back.stderr
    assert "flat, up to date (auto:" in myna("index", lib, "--status").stdout


def test_without_checkpoint_uses_the_default_model_or_says_how_to_pass_one(indexed: tuple[Path, Path],
                                                                           tmp_path: Path) -> None:
    from myna_rpe.embed import DEFAULT_CHECKPOINT

    lib = tmp_path / "lib"
    lib.mkdir()
    result = myna("index", lib, "--workers", "0")
    if (DEFAULT_CHECKPOINT / "config.json").is_file():
        assert result.returncode == 0, result.stderr
    else:
        one_line_error(result, "--checkpoint")


def test_first_index_remembers_the_default_library_for_similar(indexed: tuple[Path, Path], tmp_path: Path,
                                                              _private_user_config: Path) -> None:
    root, ckpt = indexed
    first = myna("index", root, "-c", ckpt, "--workers", "0")
    assert first.returncode == 0, first.stderr
    assert f"remembered {root.resolve()} as the default library" in " ".join(first.stdout.split())
    again = myna("index", root, "-c", ckpt, "--workers", "0")
    assert again.returncode == 0 and "remembered" not in again.stdout
    elsewhere = myna("similar", "Ärtist - Söng", "--n", "2", cwd=tmp_path)  # found through the default
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "similar to Ärtist - Söng" in elsewhere.stdout
    config = myna("config")
    assert str(root.resolve()) in config.stdout


TORCH_REPORTING = ("import sys\nfrom cli.app import main\ntry:\n    main()\nfinally:\n"
                   "    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)")


def test_an_update_without_new_audio_imports_no_torch_and_a_new_budget_is_seen(indexed: tuple[Path, Path],
                                                                              tmp_path: Path) -> None:
    root, ckpt = indexed
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)  # copy2 keeps the stamps: nothing changed
    os.replace(lib / "Compilation/a.ogg", lib / "Compilation/a renamed.ogg")

    def run(*extra: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
        return subprocess.run([sys.executable, "-c", TORCH_REPORTING, "index", str(lib), "-c", str(ckpt), *extra],
                              capture_output=True, text=True, env=env, timeout=120)

    moved = run()
    assert moved.returncode == 0, moved.stderr
    assert "torch imported: False" in moved.stderr
    assert "│ embedded                  │ 0 " in moved.stdout and "│ moved/renamed             │ 1 " in moved.stdout
    rebudgeted = run("--budget", "8", "--workers", "0")
    assert rebudgeted.returncode == 0, rebudgeted.stderr
    assert "torch imported: True" in rebudgeted.stderr
    assert "kept the embeddings of" in rebudgeted.stdout + rebudgeted.stderr
    assert f"│ embedded                  │ {len(GOOD_FILES)} " in rebudgeted.stdout


def _rows(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("│")]


def test_two_models_side_by_side_status_model_choice_and_drop(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    from playlist.library.store import LibraryStore

    root, _ = indexed
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)
    second = myna("index", lib, "-c", save_tiny_checkpoint(tmp_path / "other", seed=1), "--workers", "0")
    assert second.returncode == 0, second.stderr
    assert "kept the embeddings of" in second.stdout + second.stderr and f"│ embedded                  │ {len(GOOD_FILES)} " in second.stdout
    with LibraryStore.open(lib / ".myna", readonly=True) as store:
        first_id, second_id = [m.model_id for m in store.models()]
        assert store.current_model == second_id
    status = myna("index", lib, "--status")
    assert "2 embedding sets" in status.stdout and f"{second_id} (current)" in status.stdout
    assert first_id in status.stdout
    before = myna("similar", "Ärtist - Söng", "-n", "3", "--library", root)
    old = myna("similar", "Ärtist - Söng", "-n", "3", "--library", lib, "--model", first_id[:6])
    assert old.returncode == 0, old.stderr
    assert _rows(old) == _rows(before)  # the first model's set, untouched, searched on its own
    one_line_error(myna("index", lib, "--drop-model", ""), "an empty model id", first_id, second_id)
    dropped = myna("index", lib, "--drop-model", second_id[:8])
    assert dropped.returncode == 0, dropped.stderr
    assert f"dropped model {second_id}: {len(GOOD_FILES)} embeddings; current model now {first_id}" in dropped.stdout
    one_line_error(myna("similar", "Ärtist - Söng", "--library", lib, "--model", second_id),
                   "no embeddings of model", "myna index --status")
    assert _rows(myna("similar", "Ärtist - Söng", "-n", "3", "--library", lib)) == _rows(before)


def test_similar_and_check_take_a_file_outside_the_library_without_storing_it(indexed: tuple[Path, Path],
                                                                              tmp_path: Path) -> None:
    root, ckpt = indexed
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(root / "loose one.flac", outside / "copy.flac")  # same audio as a library track
    before = (root / ".myna" / "library.sqlite").stat().st_mtime_ns
    copy = myna("similar", outside / "copy.flac", "-n", "4", "--library", root, "-c", ckpt)
    assert copy.returncode == 0, copy.stderr
    assert "not in the library: embedded now, not stored" in copy.stdout
    rows = _rows(copy)
    assert len(rows) == 4 and "loose one.flac" in rows[0] and "1.000" in rows[0]
    inside = myna("similar", root / "loose one.flac", "-n", "3", "--library", root)
    cells = lambda r: [c.strip() for c in r.split("│")[3:]]  # noqa: E731 (artist, title, album, file)
    assert [cells(r) for r in rows[1:]] == [cells(r) for r in _rows(inside)]  # the same neighbours
    playlist = tmp_path / "mix.m3u8"
    playlist.write_text(f"#EXTM3U\n{root / 'loose one.flac'}\n{root / 'Compilation/a.ogg'}\n"
                        f"{root / 'Compilation/b.m4a'}\n", encoding="utf-8")
    checked = myna("playlist", "check", playlist, outside / "copy.flac", "Ärtist - Söng", "-c", ckpt)
    assert checked.returncode == 0, checked.stderr
    verdicts = _rows(checked)
    assert "copy.flac (not in the library)" in verdicts[0] and "inside" in verdicts[0] and "0.000" in verdicts[0]
    assert "Söng" in verdicts[1]
    assert (root / ".myna" / "library.sqlite").stat().st_mtime_ns == before  # nothing was stored
    with LibraryStoreReader(root) as store:
        assert store.track_by_path(outside / "copy.flac") is None and store.count_tracks() == len(GOOD_FILES)
    wrong = save_tiny_checkpoint(tmp_path / "other", seed=3)
    one_line_error(myna("similar", outside / "copy.flac", "--library", root, "-c", wrong),
                   "copy.flac: this file is not in the library", "pass --checkpoint")
    one_line_error(myna("playlist", "check", playlist, outside / "copy.flac", "-c", wrong), "pass --checkpoint")

    (outside / "cut.ogg").write_bytes(b"OggS" + bytes(200))  # tracks that cannot be checked do not hold up the rest
    mixed = myna("playlist", "check", playlist, outside / "cut.ogg", "Ärtist - Söng", "no such song", "-c", ckpt)
    assert mixed.returncode == 1 and "Traceback" not in mixed.stderr
    assert len(_rows(mixed)) == 1 and "Söng" in _rows(mixed)[0]
    errors = [line for line in mixed.stderr.splitlines() if line.strip()]
    assert len(errors) == 2 and all(line.startswith("error:") for line in errors), mixed.stderr
    assert f"{outside / 'cut.ogg'}:" in errors[0] and "0 library tracks match 'no such song'" in errors[1]


def LibraryStoreReader(root: Path):
    from playlist.library.store import LibraryStore

    return LibraryStore.open(root / ".myna", readonly=True)


def test_the_library_keeps_sound_statistics_beside_the_model_vectors(indexed: tuple[Path, Path]) -> None:
    from myna_rpe import track_stats
    from playlist.library.track_vectors import stats_dim
    from tests.library_helpers import tiny_embedder

    root, _ = indexed
    with LibraryStoreReader(root) as store:
        assert stats_dim(store.model_config) == track_stats.DIM
        assert store.dim == tiny_embedder().dim + track_stats.DIM
    status = myna("index", root, "--status")
    assert f"{tiny_embedder().dim} from the model + {track_stats.DIM} sound statistics" in status.stdout, status.stdout


def test_an_emptied_library_is_not_forgotten_without_prune(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    _, ckpt = indexed
    root = tmp_path / "mount point"
    make_test_library(root)
    assert myna("index", root, "-c", ckpt, "--workers", "0").returncode == 0
    away = tmp_path / "away"
    shutil.move(root / "Band", away)
    shutil.rmtree(root / "broken")
    for entry in root.iterdir():
        if entry.name != ".myna":
            shutil.move(entry, away / entry.name)
    refused = myna("index", root, "-c", ckpt, "--workers", "0")  # as if the drive were unmounted
    one_line_error(refused, f"{root}: {len(GOOD_FILES)} of the store's {len(GOOD_FILES)} tracks are missing",
                   "nothing was changed", "is a drive unmounted", f"`myna index '{root}' --prune`")
    pruned = myna("index", root, "-c", ckpt, "--workers", "0", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert f"│ removed                   │ {len(GOOD_FILES)} " in pruned.stdout
    assert f"no audio files under {root} (looked for .aac " in pruned.stderr


def test_a_run_without_checkpoint_keeps_the_librarys_model(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    """A library made with another checkpoint is not embedded again with the bundled model by a
    plain run; one made by the bundled model under another budget keeps that budget."""
    from myna_rpe.embed import DEFAULT_CHECKPOINT

    _, ckpt = indexed
    root = tmp_path / "lib"
    make_test_library(root)
    assert myna("index", root, "-c", ckpt, "--workers", "0").returncode == 0
    refused = myna("index", root, "--workers", "0")
    one_line_error(refused, f"{root}: the library's current model ", "is not the bundled model",
                   "pass the --checkpoint it was made with", "`--checkpoint bundled`")
    again = myna("index", root, "-c", ckpt, "--workers", "0")
    assert again.returncode == 0 and "│ embedded                  │ 0 " in again.stdout
    if not (DEFAULT_CHECKPOINT / "config.json").is_file():
        return
    bundled = myna("index", root, "--checkpoint", "bundled", "--budget", "512", "--workers", "0")
    assert bundled.returncode == 0 and f"│ embedded                  │ {len(GOOD_FILES)} " in bundled.stdout
    plain = myna("index", root, "--workers", "0")
    assert plain.returncode == 0, plain.stderr
    assert "the library's budget is kept: 512 tokens × 1 draw, stratified" in plain.stdout
    assert "│ embedded                  │ 0 " in plain.stdout
