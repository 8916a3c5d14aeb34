"""The corpus benchmark: grunet's defaults against the statsforecast baselines on held-out data.

    python benchmarks/forecast_corpus.py [DIR_OR_FILES ...] [--horizon H] [--out DIR] [--gru-alone]

Default corpus: ../shared/data/forecast-dev beside the repository (or $GRUNET_FORECAST_CORPUS).
Each series' last H points (monthly 18, quarterly 8, yearly 6, ...; see
grunet.forecast.evaluation) are held out; every method fits on the rest. Prints the markdown
leaderboard and writes leaderboard.csv, summary.csv, forecasts.csv and leaderboard.png to --out.
Same as ``grunet evaluate``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grunet.errors import GrunetError
from grunet.forecast.evaluation import TIME_LIMIT, evaluate

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data/forecast-dev beside the repository (or beside the folder of its worktrees)
CANDIDATES = [p / "shared" / "data" / "forecast-dev" for p in (ROOT.parent, ROOT.parent.parent)]
CORPUS = Path(
    os.environ.get("GRUNET_FORECAST_CORPUS")
    or next((p for p in CANDIDATES if p.is_dir()), CANDIDATES[0])
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(CORPUS)], help="files or folders")
    parser.add_argument("--horizon", default="auto", help="held-out steps, or auto")
    parser.add_argument("--out", default="forecast-corpus", help="folder for the results")
    parser.add_argument(
        "--gru-alone",
        action="store_true",
        help="also score the GRU pipeline without its statistical members (combine=False)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--time-limit", type=float, default=TIME_LIMIT, help="seconds per baseline (0: none)"
    )
    args = parser.parse_args(argv)
    variants = {"grunet": {}}
    if args.gru_alone:
        variants["grunet (GRU alone)"] = {"combine": False}
    try:
        board = evaluate(
            args.paths,
            horizon=args.horizon,
            out=args.out,
            variants=variants,
            seed=args.seed,
            time_limit=args.time_limit,
        )
    except GrunetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(board.to_markdown())
    print(
        f"\nwritten to {args.out}/ (leaderboard.csv, summary.csv, forecasts.csv, leaderboard.png)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
