"""Command line: `python -m pipeline run` (and `--help` for the rest).

Exit codes: 0 success; 1 partial (inputs skipped or stories failed);
2 configuration or usage error; 3 another run holds the lock;
4 a required engine or model is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import ConfigError, load_settings
from .runner import EXIT_USAGE, RunOptions, run

DEFAULT_CONFIG = Path("configs/default.yaml")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
             "logger": record.name, "message": record.getMessage()},
            ensure_ascii=False,
        )


def _setup_logging(fmt: str, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)-7s %(message)s"))
    root = logging.getLogger("pipeline")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="turn a corpus folder into cited French and English briefs")
    run_p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML settings (default: %(default)s)")
    run_p.add_argument("--corpus", type=Path, default=Path("corpus"), help="folder of .txt/.md articles (default: %(default)s)")
    run_p.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: %(default)s)")
    run_p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
    run_p.add_argument("-v", "--verbose", action="store_true")
    return parser




def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on usage errors
    _setup_logging(args.log_format, args.verbose)
    log = logging.getLogger("pipeline")
    if args.command == "run":
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            log.error("%s", exc)
            return EXIT_USAGE
        report = run(RunOptions(settings=settings, config_path=args.config, corpus=args.corpus, out=args.out))
        if report.message:
            (log.error if report.exit_code else log.info)("%s", report.message)
        if report.run_dir is not None:
            print(report.run_dir)
        return report.exit_code
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
