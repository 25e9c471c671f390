"""Command line: `python -m pipeline run` (and `--help` for the rest).

Exit codes of `run`: 0 success; 1 partial (inputs skipped or stories failed);
2 configuration or usage error; 3 another run holds the lock;
4 a required engine or model is missing, or the engine failed; 5 nothing to do
(no readable document); 6 an output could not be written (disk full);
130 interrupted (SIGINT); 70 (or anything else) is a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from .config import ConfigError, load_settings
from .runner import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, RunOptions, run

DEFAULT_CONFIG = Path("configs/default.yaml")
_EXIT_CODES = """exit codes:
  0  success
  1  partial: outputs written, but some inputs were skipped or some stories failed (see manifest.json)
  2  configuration or usage error: nothing written
  3  another run holds the lock on --out (or --wait-timeout expired)
  4  a required engine or model is missing, or the translation engine failed on every story
  5  nothing to do: no readable input document (empty or unmounted corpus, every file skipped)
  6  an output could not be written (disk full, read-only): nothing published, `latest` unchanged
  130 interrupted (Ctrl-C, SIGINT): nothing published
  70 an unexpected error: a bug (the traceback is logged); anything else is a bug too"""

# Control characters (a newline in a file name...) would let a message forge log lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class _TextFormatter(logging.Formatter):
    """`LEVEL message`, one line per message: control characters in the message are escaped
    (shown as \\n, \\x1b...); a traceback, when there is one, follows on its own lines."""

    def __init__(self) -> None:
        super().__init__("%(levelname)-7s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return self._style.format(_Escaped(record))


class _Escaped:
    """A log record seen through `_TextFormatter`: the same fields, the message escaped."""

    def __init__(self, record: logging.LogRecord) -> None:
        self.__dict__.update(record.__dict__)
        self.message = _escape_controls(record.message)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds machine-readable fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update({k: v for k, v in fields.items() if k not in data})
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def _setup_logging(fmt: str, verbose: bool) -> None:
    """Everything on stderr goes through one handler: in json mode, one JSON object per line.

    Other libraries' log records and Python warnings are routed to it too, and
    third-party progress bars (Hugging Face, tqdm) are turned off in json mode.
    """
    if fmt == "json":
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger("pipeline")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    logging.captureWarnings(True)
    top = logging.getLogger()
    top.handlers[:] = [handler]
    top.setLevel(logging.WARNING)


def _json_logs_requested(argv: list[str]) -> bool:
    return "--log-format=json" in argv or any(a == "--log-format" and b == "json" for a, b in zip(argv, argv[1:]))


def _parser_class(json_logs: bool) -> type[argparse.ArgumentParser]:
    """argparse, but a usage error in json mode is logged as one JSON line (still exit 2).

    Sub-commands' parsers are made from the same class, so they behave alike.
    """

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            if json_logs:
                _setup_logging("json", False)
                logging.getLogger("pipeline").error("usage: %s (see --help)", message,
                                                    extra={"fields": {"exit_code": 2}})
                self.exit(2)
            super().error(message)

    return Parser


def _non_negative_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {value!r}")
    return seconds


def _parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = _parser_class(_json_logs_requested(argv))(prog="python -m pipeline", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="turn a corpus folder into cited French and English briefs",
                           description="Turn a corpus folder into cited French and English briefs.", epilog=_EXIT_CODES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    run_p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML settings (default: %(default)s)")
    run_p.add_argument("--corpus", type=Path, default=Path("corpus"), help="folder of articles: text, web pages, feeds, exports, web archives (default: %(default)s)")
    run_p.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: %(default)s)")
    run_p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
    run_p.add_argument("--wait", action="store_true",
                       help="if another run holds the lock on --out, wait for it instead of exiting with code 3")
    run_p.add_argument("--wait-timeout", type=_non_negative_seconds, metavar="SECONDS",
                       help="with --wait (implied): give up with code 3 after this many seconds")
    run_p.add_argument("-v", "--verbose", action="store_true")
    _add_models_parser(sub)
    _add_eval_parser(sub)
    verify_p = sub.add_parser("verify", help="re-check every citation of a run against its sources",
                              description="Re-check a run: every citation's exact text against sources/<doc_id>.txt, "
                                          "the sources' hashes, and the input files' hashes where they still exist. "
                                          "Exit 0 when all match, 1 on any mismatch, 2 when RUN_DIR is not a run.")
    verify_p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder, e.g. outputs/latest")
    verify_p.add_argument("--corpus", type=Path, help="where the inputs are (default: the corpus in manifest.json)")
    verify_p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
    verify_p.add_argument("-v", "--verbose", action="store_true")
    _add_review_parser(sub)
    return parser


def _verify(args: argparse.Namespace, log: logging.Logger) -> int:
    """`verify RUN_DIR`: counts on stdout (last line JSON); each mismatch logged; exit 0, 1 (mismatch) or 2."""
    from .verify import VerifyError, verify_run

    try:
        report = verify_run(args.run_dir, args.corpus)
    except VerifyError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    for problem in report.problems:
        log.error("mismatch: %s", problem)
    r = report
    print(f"documents: {r.documents}, sources matching their hash: {r.sources_ok}")
    print(f"inputs matching their hash: {r.inputs_ok}, inputs not found: {r.inputs_missing}")
    print(f"citations: {r.citations}, exact text found at its offsets: {r.citations_ok}, mismatches: {len(r.problems)}")
    print(json.dumps(r.as_dict()))
    return 0 if r.ok else 1


_EVAL_HELP = """Measure quality on a development set and print the scores.

  summarize: JSON lines with id, article, abstract; ROUGE-1/2/L F1 (accent-safe
             tokens, no stemming) of the configured summarizer, next to LEAD-1/2/3
  translate: lines 'French<TAB>English reference'; sacrebleu BLEU and chrF of the
             configured translator, and its speed
  multi-summarize: a folder with refs.jsonl and docs/<cluster>/*.txt (RPM2); each
             cluster run through the whole pipeline as its own corpus, the French
             summary cut at 100 words, ROUGE against each reference, averaged; next
             to lead, round-robin lead and people (each reference vs the others)

exit codes: 0 scored; 2 bad data file, config or arguments; 4 the engine is missing"""


def _add_models_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    models_p = sub.add_parser("models", help="list, download or convert the configured neural models")
    models_sub = models_p.add_subparsers(dest="models_command", required=True)
    for name, text in (("list", "show each configured model, where it resolves and whether it is usable"),
                       ("pull", "download the configured models where a model hub is reachable"),
                       ("convert", "convert translate.model to CTranslate2 (translate.compute_type)")):
        p = models_sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML settings (default: %(default)s)")
        p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
        p.add_argument("-v", "--verbose", action="store_true")
        if name == "convert":
            p.add_argument("--force", action="store_true", help="replace an existing conversion")


def _add_eval_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    eval_p = sub.add_parser("eval", help="measure summary (ROUGE) and translation (BLEU, chrF) quality",
                            description=_EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = eval_p.add_subparsers(dest="eval_task", required=True)
    for task, data_help in (("summarize", "JSON lines with id, article, abstract"),
                            ("translate", "lines 'French<TAB>English reference'")):
        p = tasks.add_parser(task, help=f"score the configured {'summarizer' if task == 'summarize' else 'translator'}",
                             description=_EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--data", type=Path, required=True, help=data_help)
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML settings (default: %(default)s)")
        p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N items only")
        p.add_argument("--output", type=Path, metavar="PATH",
                       help="results as JSON (default: outputs/eval/<task>-<time>.json)")
        p.add_argument("--predictions", type=Path, metavar="PATH",
                       help="system outputs: JSON lines {id, summary} / one English line per input")
        p.add_argument("--seed", type=int, default=0, help="random seed, recorded in the results (default: 0)")
        if task == "translate":
            p.add_argument("--raw-apertium", action="store_true",
                           help="score the unrepaired pivot 'apertium -u fr-es | apertium -u spa-eng' instead")
        p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
        p.add_argument("-v", "--verbose", action="store_true")
    _add_multi_summarize_parser(tasks)


def _default_rpm2() -> Path:
    """../shared/eval-dev/rpm2-dev next to the checkout."""
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "eval-dev" / "rpm2-dev"


def _add_multi_summarize_parser(tasks: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = tasks.add_parser("multi-summarize", help="score the whole pipeline's French summaries of article clusters",
                         description=_EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None,
                   help="folder with refs.jsonl and docs/<cluster>/ (default: ../shared/eval-dev/rpm2-dev)")
    p.add_argument("--config", type=Path, default=Path("configs/eval-rpm2.yaml"),
                   help="YAML settings (default: %(default)s)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N clusters only")
    p.add_argument("--output", type=Path, metavar="PATH",
                   help="results as JSON (default: outputs/eval/multi-summarize-<time>.json)")
    p.add_argument("--predictions", type=Path, metavar="PATH", help="French summaries: JSON lines {id, summary}")
    p.add_argument("--work", type=Path, metavar="DIR",
                   help="cache kept between calls (default: pipeline-eval-multi-summarize in the temporary folder)")
    p.add_argument("--seed", type=int, default=0, help="random seed, recorded in the results (default: 0)")
    p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="also the log of each cluster's run")


_REVIEW_HELP = """Review the latest run's briefs in a browser, or export the reviewed ones.

  review         serve http://HOST:PORT/ (127.0.0.1:8765): approve, reject with a reason,
                 edit, comment each sentence and quote; sign off a brief. Decisions are kept
                 in OUT/review.sqlite and carry over to later runs where a sentence is unchanged.
  review export  write the reviewed briefs (Markdown and JSON, with decisions, edits,
                 reviewer and time) to --to DIR; --signed-off-only for the signed-off ones

exit codes: 0 done; 2 no run in --out, a bad address or an unusable --to"""


def _add_review_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    review_p = sub.add_parser("review", help="review and sign off the latest run's briefs (local server), or export",
                              description=_REVIEW_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    review_p.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: %(default)s)")
    review_p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    review_p.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    review_p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines on stderr")
    review_p.add_argument("-v", "--verbose", action="store_true")
    review_sub = review_p.add_subparsers(dest="review_command")
    export_p = review_sub.add_parser("export", help="write the reviewed briefs as Markdown and JSON",
                                     description=_REVIEW_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    export_p.add_argument("--to", type=Path, required=True, metavar="DIR", help="folder to write the briefs to")
    export_p.add_argument("--signed-off-only", action="store_true", help="only the briefs signed off and unchanged")
    # SUPPRESS: `review --out X export` keeps X
    export_p.add_argument("--out", type=Path, default=argparse.SUPPRESS, help="output folder (default: outputs)")
    export_p.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS, help="log lines on stderr")
    export_p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)


def _review(args: argparse.Namespace, log: logging.Logger) -> int:
    from .review import ReviewError, latest_run, open_store, run_states

    if args.review_command == "export":
        from .review.export import export_briefs

        try:
            states = run_states(latest_run(args.out), open_store(args.out))
            written = export_briefs(states, args.to, args.signed_off_only)
        except ReviewError as exc:
            log.error("%s", exc)
            return EXIT_USAGE
        except OSError as exc:
            log.error("cannot write the export to %s: %s; choose a writable --to folder", args.to, exc)
            return EXIT_USAGE
        n = len(written) // 2
        log.info("exported %d of %d brief(s) to %s%s", n, len(states), args.to,
                 " (signed off only)" if args.signed_off_only else "")
        for path in written:
            print(path)
        return 0
    import socket

    from .review.server import serve

    try:
        latest_run(args.out)
        with socket.create_server((args.host, args.port)):
            pass
    except ReviewError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except OSError as exc:
        log.error("cannot listen on %s:%d (%s); choose another --port or --host", args.host, args.port, exc)
        return EXIT_USAGE
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this address can review; the default is 127.0.0.1",
                    args.host)
    serve(args.out, args.host, args.port)
    return 0


def _eval(args: argparse.Namespace, log: logging.Logger) -> int:
    import random

    from . import evaluate as ev
    from .translate import TranslationError

    if args.limit is not None and args.limit < 1:
        log.error("--limit must be at least 1, got %d", args.limit)
        return EXIT_USAGE
    random.seed(args.seed)
    try:
        import numpy

        numpy.random.seed(args.seed)
    except ImportError:
        pass
    try:
        settings = load_settings(args.config)
        if args.eval_task == "summarize":
            items = ev.load_summary_data(args.data, args.limit)
            result: ev.SummaryEval | ev.TranslationEval = ev.evaluate_summaries(items, settings)
        elif args.eval_task == "multi-summarize":
            args.data = args.data or _default_rpm2()
            clusters = ev.load_clusters(args.data, args.limit)
            quiet = not args.verbose  # each cluster is a whole run: its log only with -v
            level = log.level
            if quiet:
                log.setLevel(logging.ERROR)
            try:
                result = ev.evaluate_multi_summaries(clusters, settings, args.config, args.work)
            finally:
                log.setLevel(level)
        else:
            pairs = ev.load_translation_data(args.data, args.limit)
            if args.raw_apertium:
                from .translate.apertium import RawApertiumPivot

                translator = RawApertiumPivot(settings.translate.apertium_pairs, timeout_s=settings.translate.timeout_s)
            else:
                from .translate.select import choose_translator

                choice = choose_translator(settings.translate)
                for warning in choice.warnings:
                    log.warning("%s", warning)
                translator = choice.translator
            result = ev.evaluate_translations(pairs, translator)
    except (ConfigError, ev.EvalError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except TranslationError as exc:
        log.error("%s", exc)
        return 4
    output = args.output or ev.default_output(args.eval_task)
    ev.write_results(output, ev.results_record(args.eval_task, result, data=args.data, limit=args.limit,
                                               settings=settings, config_path=args.config, seed=args.seed))
    if args.predictions:
        ev.write_predictions(args.predictions, result)
    if args.eval_task == "multi-summarize":
        assert isinstance(result, ev.SummaryEval)
        print(f"{result.engine}: {result.n} clusters of {args.data}, config {args.config}; "
              f"French summary of the story with the most documents, cut at {ev.CUT_WORDS} words")
        print(f"{'system':<14}{'R-1':>7}{'R-2':>7}{'R-L':>7}{'tokens':>8}")
        for r in (result.system, *result.baselines):
            print(f"{r.system:<14}{r.rouge1:>7.2f}{r.rouge2:>7.2f}{r.rougeL:>7.2f}{r.avg_tokens:>8.1f}")
        print(f"ROUGE F1 x 100 against each reference, averaged, then over clusters: {result.rouge_signature}")
        print(f"{result.n} pipeline runs took {result.seconds:.1f} s")
    elif isinstance(result, ev.SummaryEval):
        print(f"{result.engine or settings.summarize.backend}: {result.n} articles of {args.data}, config {args.config}")
        print(f"{'system':<12}{'R-1':>7}{'R-2':>7}{'R-L':>7}{'tokens':>8}")
        for r in (result.system, *result.baselines):
            print(f"{r.system:<12}{r.rouge1:>7.2f}{r.rouge2:>7.2f}{r.rougeL:>7.2f}{r.avg_tokens:>8.1f}")
        print(f"ROUGE F1 x 100, mean over articles: {result.rouge_signature}")
        rate = f" ({result.n / result.seconds:.1f} articles/s)" if result.seconds else ""
        print(f"summarizing took {result.seconds:.1f} s{rate}")
    else:
        print(f"{result.engine}: {result.n} sentence pairs of {args.data}, config {args.config}")
        print(f"BLEU {result.bleu:6.2f}  {result.bleu_signature}")
        print(f"chrF {result.chrf:6.2f}  {result.chrf_signature}")
        print(f"names kept {result.names_kept_percent:6.2f}%  ({result.names_kept} of {result.names} capitalised "
              "source words that the reference also has)")
        print(f"{result.n} sentences in {result.seconds:.2f} s: {result.sentences_per_second} sentences/s")
    print(f"results: {output}" + (f"; predictions: {args.predictions}" if args.predictions else ""))
    return 0


def _models(args: argparse.Namespace, log: logging.Logger) -> int:
    """`models list|pull|convert`; exit 0 when done, 2 for a bad config, 4 when a model is missing."""
    from . import models as m
    from .translate.apertium import apertium_version

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    tr, su = settings.translate, settings.summarize
    ct2_dir = Path(tr.ct2_model) if tr.ct2_model else m.default_ct2_dir(tr.model, tr.compute_type)
    if args.models_command == "list":
        rows = []
        for role, name in (("translate.model", tr.model), ("summarize.model", su.model)):
            r = m.resolve_model(name)
            rows.append((role, name, "usable" if r.usable else "missing", str(r.local_path or "-"), r.reason))
        rows.append(("translate.ct2_model", str(ct2_dir), "usable" if m.is_ct2_model_dir(ct2_dir) else "missing",
                     str(ct2_dir), "converted with 'models convert'"))
        version = apertium_version()
        rows.append(("apertium", " + ".join(tr.apertium_pairs), "usable" if version else "missing",
                     "-", f"apertium {version}" if version else "apt-get install apertium apertium-fr-es apertium-eng-spa"))
        for role, name, state, where, why in rows:
            print(f"{role:<20} {state:<8} {name}\n{'':<20} {'':<8} at: {where}\n{'':<20} {'':<8} {why}")
        print(f"translate.backend: {tr.backend}; summarize.backend: {su.backend}")
        return 0
    try:
        if args.models_command == "pull":
            names = [tr.model] + ([su.model] if su.backend == "seq2seq" else [])
            for name in names:
                print(f"{name}: {m.pull(name)}")
            return 0
        source = m.require_model(tr.model, what="translate.model")
        assert source.local_path is not None
        print(f"{tr.model} -> {m.convert_to_ct2(source.local_path, ct2_dir, tr.compute_type, force=args.force)}")
        return 0
    except m.ModelError as exc:
        log.error("%s", exc)
        return 4


def main(argv: list[str] | None = None) -> int:
    return _main(argv, None)


def _main(argv: list[str] | None, kept: list[Any] | None) -> int:
    """`main`, for a caller that ends the process next (`leave`) when `kept` is a list: a run's report is put
    there with the run's records (`RunOptions.keep_records`), which are then not freed one by one."""
    if argv is None:
        argv = sys.argv[1:]
    parser = _parser(argv)
    args = parser.parse_args(argv)  # argparse exits with 2 on usage errors
    _setup_logging(args.log_format, args.verbose)
    log = logging.getLogger("pipeline")
    try:
        return _command(parser, args, log, kept)
    except KeyboardInterrupt:
        # Ctrl-C / SIGINT: one log line (JSON in json mode), no traceback. The lock is released and the
        # run's temporary folder is removed by the next run; `latest` was not moved.
        log.error("interrupted (SIGINT): no new run published; outputs as they were",
                  extra={"fields": {"event": "run_interrupted", "exit_code": EXIT_INTERRUPTED}})
        return EXIT_INTERRUPTED


def _command(parser: argparse.ArgumentParser, args: argparse.Namespace, log: logging.Logger,
             kept: list[Any] | None) -> int:
    if args.command == "run":
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            log.error("%s", exc)
            return EXIT_USAGE
        try:
            report = run(RunOptions(
                settings=settings, config_path=args.config, corpus=args.corpus, out=args.out,
                wait=args.wait or args.wait_timeout is not None, wait_timeout=args.wait_timeout,
                progress=args.log_format == "text" and sys.stderr.isatty(), keep_records=kept is not None,
            ))
        except ConfigError as exc:  # found while reading the corpus (a CSV without the configured text column)
            log.error("%s", exc, extra={"fields": {"exit_code": EXIT_USAGE}})
            return EXIT_USAGE
        except Exception:
            # A bug, not a user mistake. Python's own exit status for an uncaught
            # exception is 1, which means "partial" here: use EX_SOFTWARE instead.
            log.critical("unexpected error: this is a bug in pipeline; please report it with this traceback",
                         exc_info=True, extra={"fields": {"exit_code": EXIT_BUG}})
            return EXIT_BUG
        if report.message:
            (log.error if report.exit_code else log.info)("%s", report.message,
                                                          extra={"fields": {"exit_code": report.exit_code}})
        if report.run_dir is not None:
            print(report.run_dir)
        if kept is not None:
            kept.append(report)
        return report.exit_code
    if args.command == "eval":
        return _eval(args, log)
    if args.command == "models":
        return _models(args, log)
    if args.command == "verify":
        return _verify(args, log)
    if args.command == "review":
        return _review(args, log)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def leave(code: int) -> NoReturn:
    """End the process with `code` once the command is done: the exit handlers run (log handlers, a Ray
    cluster's shutdown), the output is flushed, and the interpreter is not torn down object by object (a
    run's records freed one by one and walked by a last collection: 0.4 s of CPU after a warm run at 10,000
    articles, when everything is written). Under a profiler, a debugger or coverage (`python -m cProfile -m
    pipeline ...`), which write their results as the interpreter ends: an ordinary exit."""
    import atexit

    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    _kept: list[Any] = []  # the run's records, left to the process's end (`leave`)
    leave(_main(None, _kept))
