"""`myna train`: contrastive pretraining. Every TrainConfig field is a flag (built from the
dataclass, so the two cannot drift apart); `--config FILE` supplies defaults, flags win.

Multi-GPU / multi-node: run the same command under `torchrun`; only rank 0 prints.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Optional, get_args, get_type_hints

import typer
from rich.progress import TextColumn
from rich.table import Table

from cli.app import app
from cli.console import console, err_console, progress
from cli.values import device_or_auto, folder_to_create


class RichReporter:
    """A bar for the mel cache (tracks/s) and the teacher's targets, then one for the steps
    with loss, lr and pairs/s."""

    def __init__(self) -> None:
        self.cache_bars: dict[str, Any] = {}
        self.step_bar = self.step_task = None

    def message(self, text: str) -> None:
        err_console.print(text, style="yellow", highlight=False, soft_wrap=True)

    def cache_progress(self, done: int, total: int, what: str = "log-mel cache") -> None:
        if total == 0:
            return
        if what not in self.cache_bars:
            bar = progress("tracks")
            bar.start()
            self.cache_bars[what] = (bar, bar.add_task(what, total=total))
        bar, task = self.cache_bars[what]
        bar.update(task, completed=done)
        if done == total:
            bar.stop()

    def start(self, step: int, total: int) -> None:
        self.step_bar = progress(
            "steps",
            TextColumn("loss [bold]{task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("[cyan]{task.fields[pps]} pairs/s"),
            compact=True,  # pairs/s is the rate
        )
        self.step_bar.start()
        self.step_task = self.step_bar.add_task("training", total=total, completed=step, loss="-", lr="-", pps="-")

    def step(self, m) -> None:
        pps = m.pairs_per_s
        self.step_bar.update(self.step_task, completed=m.step, loss=f"{m.loss:.4f}", lr=f"{m.lr:.1e}",
                             pps=f"{pps:.1f}" if pps < 100 else f"{pps:.0f}")  # short: the line fits 80 columns

    def saved(self, path: Path, step: int) -> None:
        err_console.print(f"checkpoint at step {step}: {path}", highlight=False)

    def close(self) -> None:
        for bar in [b for b, _ in self.cache_bars.values()] + [self.step_bar]:
            if bar is not None:
                bar.stop()


def _train(config: Path | None, resume: bool, cache_workers: int, **settings: Any) -> None:
    from myna_rpe.devices import device_problem
    from myna_rpe.errors import MynaError, SettingError
    from myna_rpe.training.config import TrainConfig, load_config_file
    from myna_rpe.training.loop import resume_config, train

    flags = {k: v for k, v in settings.items() if v is not None}
    for key in ("out", "cache_dir"):
        if key in flags:
            folder_to_create(f"--{key.replace('_', '-')}", Path(flags[key]))
    from_file = load_config_file(config) if config is not None else {}
    main = int(os.environ.get("RANK", "0")) == 0
    reporter = RichReporter() if main else None
    try:
        if resume:
            out = Path(flags.get("out") or from_file.get("out") or TrainConfig.__dataclass_fields__["out"].default)
            cfg = resume_config(out, from_file, flags, source=config,
                                say=reporter.message if reporter else lambda text: None)
        else:
            cfg = TrainConfig.from_sources(from_file, flags, source=config)
    except SettingError as exc:
        flagged = [key for key in exc.keys if key in flags]
        if not flagged:  # from the config file (or the resumed run's): exit 1, naming it
            raise
        raise typer.BadParameter(f"{exc.message} — {exc.fix}",
                                 param_hint=" / ".join(f"'--{k.replace('_', '-')}'" for k in flagged)) from None
    if "device" not in flags and (problem := device_problem(cfg.device, auto=True)):  # a flag was checked on parsing
        raise MynaError(f"device {problem}", config if "device" in from_file else Path(cfg.out) / "train_config.json")
    try:
        result = train(cfg, resume=resume, reporter=reporter, cache_workers=cache_workers)
    finally:
        if reporter is not None:
            reporter.close()
    if not main:
        return
    table = Table(title="training" + (" (interrupted, saved)" if result.interrupted else ""))
    table.add_column("steps", justify="right")
    table.add_column("last loss", justify="right")
    table.add_column("pairs/s", justify="right")
    table.add_column("checkpoint")
    last = result.history[-1] if result.history else None
    table.add_row(
        f"{result.step}/{cfg.steps}",
        f"{last.loss:.4f}" if last else "-",
        f"{sum(m.pairs_per_s for m in result.history[-20:]) / len(result.history[-20:]):.1f}" if last else "-",
        str(result.run_dir / "checkpoint"),
    )
    console.print(table)
    if result.interrupted:
        err_console.print(f"resume with: myna train --out {result.run_dir} --resume")
        # Like any command stopped by a signal: 130 after Ctrl-C, 143 after SIGTERM, so
        # `myna train && myna eval` does not go on after an interrupted run.
        raise typer.Exit(128 + result.signal)


def _flag_parameters() -> list[inspect.Parameter]:
    from myna_rpe.training.config import TrainConfig

    hints = get_type_hints(TrainConfig)
    params = []
    for f in fields(TrainConfig):
        base = next(t for t in (get_args(hints[f.name]) or (hints[f.name],)) if t is not type(None))
        name = "--" + f.name.replace("_", "-")
        decls = [f"{name}/--no-{f.name.replace('_', '-')}"] if base is bool else [name]
        default = "" if f.default is MISSING or f.default in (None, "") else f" (default: {f.default})"
        option = typer.Option(
            None, *decls, help=f.metadata["help"] + default, rich_help_panel=f.metadata["group"], show_default=False,
            callback=device_or_auto if f.name == "device" else None,  # present here, as for index and eval
        )
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[base]))
    return params


def train_command(**kwargs: Any) -> None:
    """Contrastive pretraining of the encoder on a folder of audio or MTG-Jamendo.

    Example: myna train --pe alibi2d --data ~/Music --out runs/alibi2d
    """
    _train(kwargs.pop("config"), kwargs.pop("resume"), kwargs.pop("cache_workers"), **kwargs)


train_command.__signature__ = inspect.Signature(
    [
        inspect.Parameter(
            "config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
            default=typer.Option(None, "--config", help="TOML or YAML file of settings (flags override it)."),
        ),
        inspect.Parameter(
            "resume", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
            default=typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
        ),
        inspect.Parameter(
            "cache_workers", inspect.Parameter.KEYWORD_ONLY, annotation=int,
            default=typer.Option(0, "--cache-workers", min=0, max=256, help="Processes decoding audio into the mel cache (0 = this one)."),
        ),
        *_flag_parameters(),
    ]
)
app.command("train")(train_command)
