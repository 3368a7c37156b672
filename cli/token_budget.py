"""The token-budget options shared by every command that embeds (`embed`, `index`, `eval`)."""

from __future__ import annotations

import typer

from myna_rpe.budget import SPREADS, TokenBudget

_DEFAULT = TokenBudget()

BUDGET = typer.Option(
    str(_DEFAULT.tokens), "--budget",
    help="Patches read from a track longer than this many (1024 ≈ 66 s), spread over its whole length, "
         "so every track costs about the same; 'dense' reads every patch (cost grows with the square of the length).",
)
DRAWS = typer.Option(_DEFAULT.draws, "--draws", help="Independent draws of --budget patches averaged per long track.")
SPREAD = typer.Option(_DEFAULT.spread, "--spread",
                      help="How the patches are picked: stratified (one per equal stretch) or random.")


def token_budget(budget: str, draws: int, spread: str) -> TokenBudget:
    """The options as a TokenBudget; a bad value is a usage error naming the option."""
    if budget.strip().lower() in ("dense", "none", "off"):
        tokens = None
    else:
        try:
            tokens = int(budget)
        except ValueError:
            raise typer.BadParameter(f"{budget!r} is not a whole number of patches or 'dense'",
                                     param_hint="'--budget'") from None
        if tokens < 1:
            raise typer.BadParameter(f"{tokens} must be at least 1 (or 'dense')", param_hint="'--budget'")
    if draws < 1:
        raise typer.BadParameter(f"{draws} must be at least 1", param_hint="'--draws'")
    if spread not in SPREADS:
        raise typer.BadParameter(f"{spread!r}; choose {' or '.join(SPREADS)}", param_hint="'--spread'")
    return TokenBudget(tokens=tokens, draws=draws, spread=spread)
