"""`streamguard <command>`: one command per DVC stage (streamguard.stages), plus scan/predict/compare.

Each stage command's arguments are parsed here and handed to its stage module's
`main(args)`. Errors meant for people (bad records, bad params, missing files) are
printed without a traceback and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from streamguard.errors import StreamGuardError
from streamguard.models.registry import BASE_MODELS
from streamguard.params import Params, load_params

err_console = Console(stderr=True)


def _params(args: argparse.Namespace) -> Params:
    return load_params(args.params)


# command -> the module of streamguard/stages/ whose main(args) runs it: one per dvc.yaml stage
STAGE_COMMANDS = {
    "check-params": "check_params",
    "download": "download",
    "collect": "collect",
    "preprocess": "preprocess",
    "folds": "folds",
    "graphs": "graphs",
    "pretrain": "pretrain",
    "train": "train",
    "oof": "oof",
    "fusion": "fusion",
    "evaluate": "evaluate",
    "generalize-corpus": "generalize_corpus",
    "generalize": "generalize",
    "train-detector": "detector",
}


def run_stage(args: argparse.Namespace) -> None:
    """Run the stage module of `args.command`; imported on use, so one command's libraries never slow another."""
    import importlib

    importlib.import_module(f"streamguard.stages.{STAGE_COMMANDS[args.command]}").main(args)


def cmd_make_generalize_sample(args: argparse.Namespace) -> None:
    from streamguard.data.sample import build_generalization_sample

    provenance = build_generalization_sample(
        Path(args.corpus), Path(args.report), Path(args.out), args.projects, args.pairs, args.benign, args.seed
    )
    print(f"wrote {provenance['records']} records to {args.out} (sha256 {provenance['sha256'][:12]}...)")


def cmd_summary(args: argparse.Namespace) -> None:
    from streamguard.evaluation.summary import print_summary

    # stdout: the summary is this command's product; wide enough for the table when piped
    console = Console(width=None if sys.stdout.isatty() else 120)
    print_summary(Path(args.metrics), _params(args).evaluate.confidence_level, console)


def cmd_predict(args: argparse.Namespace) -> None:
    from streamguard.models.detector_card import PARAMS_FILE, default_models_dir, is_detector
    from streamguard.predict import run_predict

    models = Path(args.models) if args.models is not None else default_models_dir()
    # a detector scores with the params it was trained with
    params = load_params(models / PARAMS_FILE) if is_detector(models) else _params(args)
    run_predict(
        [Path(p) for p in args.inputs],
        models,
        Path(args.output),
        graphs_dir=Path(args.graphs),
        params=params,
        fmt=args.format,
    )


def cmd_scan(args: argparse.Namespace) -> int:
    from streamguard.scan.run import ScanOptions, scan_command

    return scan_command(
        ScanOptions(
            paths=[Path(p) for p in args.paths],
            models_dir=Path(args.models) if args.models is not None else None,
            graphs_dir=Path(args.graphs),
            params_file=Path(args.params),
            model=args.model,
            rev=args.rev,
            registry=args.registry,
            output_format=args.format,
            output=args.output,
            min_probability=args.min_probability,
            top=args.top,
            fail_on_findings=args.fail_on_findings,
            changed_since=args.changed_since,
            baseline=Path(args.baseline) if args.baseline is not None else None,
            **({"lines": args.lines} if args.lines is not None else {}),
            **({"workers": args.workers} if args.workers is not None else {}),
        )
    )


def cmd_triage(args: argparse.Namespace) -> None:
    from streamguard.scan.triage_command import TriageOptions, triage_command

    verdicts = triage_command(
        TriageOptions(
            repo=Path(args.repo),
            fingerprint=args.fingerprint,
            verdict=args.verdict,
            reason=args.reason,
            who=args.who,
            import_sarif=Path(args.import_sarif) if args.import_sarif is not None else None,
        )
    )
    from streamguard.scan.walk import printable

    for v in verdicts:
        line = f"{v.fingerprint[:16]} {v.file}:{v.function}: {v.describe()}"
        Console().print(printable(line), highlight=False, markup=False)
    Console().print(f"{len(verdicts)} verdict(s) added to the triage file", highlight=False)


def cmd_compare(args: argparse.Namespace) -> None:
    from streamguard.evaluation.compare import run_compare

    run_compare(args.rev_a, args.rev_b, repo=args.repo, markdown=args.md, params=_params(args))


def cmd_sagemaker(args: argparse.Namespace) -> None:
    from streamguard.cloud.sagemaker import run_sagemaker

    run_sagemaker(args)


def cmd_s3_check(args: argparse.Namespace) -> None:
    from streamguard.cloud.s3_check import check_remote

    print(check_remote(".", args.remote, create=args.create))


def cmd_make_sample(args: argparse.Namespace) -> None:
    from streamguard.data.sample import build_sample

    info = build_sample(Path(args.source), Path(args.out), args.size, args.seed)
    Console().print(info)


def _add_code_metrics_option(parser: argparse.ArgumentParser) -> None:
    help_ = "the generalize_corpus stage's code_metrics.npz for this corpus (default: computed here)"
    parser.add_argument("--code-metrics", type=Path, default=None, help=help_)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamguard", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int | None], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(func=fn)
        return p

    def stage(name: str, help_: str) -> argparse.ArgumentParser:
        return add(name, run_stage, help_)

    checkpoints = "resumable checkpoints while it trains, under <this>/<model> (default: checkpoints)"
    pretrained = "the pretrain stage's output, read when transformer.init or gnn.token_init is pretrain"
    p = stage("check-params", "validate the whole params file; write a marker every stage depends on")
    p.add_argument("--out", default="data/params.ok", help="marker written when the params are valid")
    p = stage("download", "fetch the source named by data.source into data/raw")
    p.add_argument("--sample", default=None, help="data.source sample's file (default: the bundled sample)")
    p.add_argument("--out", default="data/raw")
    p = stage("preprocess", "clean, deduplicate, trim and split records")
    p.add_argument("--raw", default="data/raw")
    p.add_argument("--collected", default="data/collected")
    p.add_argument("--out", default="data/processed")
    p = stage("folds", "assign every training record its OOF fold (oof.folds, seed), once for all models")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--out", default="data/folds.json")
    p = stage("graphs", "build one code graph per function")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--out", default="data/graphs")
    p = stage("train", "train one base model on the training split")
    p.add_argument("model", choices=BASE_MODELS)
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--graphs", default="data/graphs")
    p.add_argument("--pretrained", default="models/pretrain", help=pretrained)
    p.add_argument("--checkpoints", default="checkpoints", help=checkpoints)
    p.add_argument("--out", default=None, help="default: models/<model>")
    p = stage(
        "pretrain",
        "masked-LM pretraining on unlabelled C (when transformer.init or gnn.token_init is pretrain)",
    )
    p.add_argument("--processed", default="data/processed", help="valid/test functions the corpus must not hold")
    p.add_argument("--corpus", default="data/pretrain")
    p.add_argument("--checkpoints", default="checkpoints", help="resumable checkpoints under <this>/pretrain")
    p.add_argument("--out", default="models/pretrain")
    p = stage("oof", "for each of the K folds, train one base model on the others and predict it")
    p.add_argument("model", choices=BASE_MODELS)
    p.add_argument("fold", type=int, nargs="?", help="this fold alone (default: every fold, 0..oof.folds-1)")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--graphs", default="data/graphs")
    p.add_argument("--folds", default="data/folds.json", help="the folds stage's assignment file")
    p.add_argument("--pretrained", default="models/pretrain", help=pretrained)
    p.add_argument("--checkpoints", default="checkpoints", help="scratch fold models under <this>/oof/<model>")
    p.add_argument("--out", default="data/oof")
    p = stage("fusion", "fit the stacker on the base models' valid (or out-of-fold) probabilities")
    p.add_argument("--oof", default="data/oof")
    p.add_argument("--models", default="models")
    p.add_argument("--out", default="models/fusion")
    p.add_argument("--processed", default="data/processed", help="for per-function fusion features")
    p = stage("evaluate", "test metrics with bootstrap CIs, paired tests and plots")
    p.add_argument("--models", default="models")
    p.add_argument("--metrics", default="metrics")
    p.add_argument(
        "--test-records",
        default="data/processed/test.jsonl",
        help="the test split's records, for pair ids (paired metrics); skipped when absent",
    )
    p = stage("generalize-corpus", "the leave-project-out corpus: mined pairs, snapshots, PairVul, Devign, Juliet")
    p.add_argument("--mined", default="data/collected/git.jsonl", help="the git collector's pairs (corpus: build)")
    p.add_argument("--sample", default=None, help="generalize.corpus sample's corpus (default: the bundled one)")
    p.add_argument("--devign-sample", default=None, help="its Devign functions (default: the bundled sample)")
    p.add_argument("--out", default="data/generalize")
    p = stage("generalize", "leave-one-project-out evaluation against the length rule and random order")
    p.add_argument("--corpus", default="data/generalize/corpus.jsonl")
    p.add_argument(
        "--metrics", default="metrics/generalization", help="headline figures, a JSON per model (DVC metrics)"
    )
    p.add_argument("--details", default="metrics/generalization_details.json", help="per project, with CIs")
    p.add_argument("--plots", default="metrics/generalization_plots")
    _add_code_metrics_option(p)
    p = stage("train-detector", "train the model leave-project-out ranks best on every project, with its card")
    p.add_argument("--corpus", default="data/generalize/corpus.jsonl")
    p.add_argument("--details", default="metrics/generalization_details.json", help="the generalize stage's details")
    p.add_argument("--out", default="models/detector", help="the detector's models folder")
    p.add_argument("--without", default=None, metavar="PROJECT", help="leave this project out of training")
    _add_code_metrics_option(p)
    p = stage("collect", "Phase 2: collect records from one source")
    p.add_argument("source")
    p.add_argument("--out", default="data/collected")
    p = add("summary", cmd_summary, "print the last evaluation's results for a person (reads metrics/*.json)")
    p.add_argument("--metrics", default="metrics")
    p = add("predict", cmd_predict, "score C files or JSONL records with the trained models")
    p.add_argument("inputs", nargs="+", help=".c/.h files or .jsonl record files")
    p.add_argument("--models", default=None, help="a models folder (default: models, else the shipped detector)")
    p.add_argument("--graphs", default="data/graphs", help="graph vocabulary folder")
    p.add_argument("--format", choices=["jsonl", "csv", "table"], default="jsonl", help="output format")
    p.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    p = add("scan", cmd_scan, "scan a C/C++ codebase for likely vulnerable functions (SARIF, JSON or a table)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (git repos: tracked + unignored files)")
    which = p.add_mutually_exclusive_group()  # where the models come from (scan/model_source.py)
    which.add_argument(
        "--model-dir", "--models", dest="models", default=None, help="a models folder (default: models, else shipped)"
    )
    which.add_argument("--model", default=None, metavar="NAME@VERSION", help="a registered version (GTO tag)")
    which.add_argument("--rev", default=None, help="the detector at a git revision of --registry")
    p.add_argument("--registry", default=".", help="repository holding the model tags and DVC remote (default: .)")
    p.add_argument("--graphs", default="data/graphs", help="graph vocabulary folder")
    p.add_argument("--format", choices=["table", "sarif", "json"], default="table")
    p.add_argument("-o", "--output", default="-", help="report file (default: stdout)")
    p.add_argument("--min-probability", type=float, default=None, help="default: the fusion's threshold")
    p.add_argument("--top", type=int, default=None, metavar="K", help="report only the K highest")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 when a function reaches the threshold")
    p.add_argument("--changed-since", default=None, metavar="REV", help="only functions changed since REV")
    p.add_argument("--workers", type=int, default=None, help="scoring processes (default: one per CPU)")
    p.add_argument(
        "--baseline",
        default=None,
        metavar="SARIF",
        help="an earlier scan's SARIF: mark results new/unchanged/updated/absent; --fail-on-findings gates on new",
    )
    p.add_argument(
        "--lines",
        type=int,
        default=None,
        metavar="N",
        help="lines per finding ranked by what drives its score (default 5; 0: none)",
    )
    p = add("triage", cmd_triage, "record a verdict on a finding in the repository's .streamguard/triage.jsonl")
    p.add_argument("fingerprint", nargs="?", help="the finding's fingerprint (or its first 8+ hex digits)")
    p.add_argument("--verdict", choices=["false-positive", "true-positive"], default=None)
    p.add_argument("--reason", default=None, help="why: what makes it safe, or what is wrong")
    p.add_argument("--who", default=None, help="default: git's user.email in the repository")
    p.add_argument("--repo", default=".", help="the scanned repository (default: .)")
    p.add_argument(
        "--import", dest="import_sarif", default=None, metavar="SARIF", help="add the report's suppressed results"
    )
    p = add("compare", cmd_compare, "paired tests between two revisions' test predictions")
    p.add_argument("rev_a", help="a git/DVC revision, experiment name, `workspace`, or a metrics folder")
    p.add_argument("rev_b", help="the same kinds as rev_a")
    p.add_argument("--repo", default=".")
    p.add_argument("--md", action="store_true", help="print Markdown")
    p = add("make-sample", cmd_make_sample, "draw the bundled stratified sample from a Devign file")
    p.add_argument("source")
    p.add_argument("--out", default="data/sample/devign_sample.jsonl.gz")
    p.add_argument("--size", type=int, default=1600)
    p.add_argument("--seed", type=int, default=20261121)
    p = add("make-generalize-sample", cmd_make_generalize_sample, "draw the bundled leave-project-out sample")
    p.add_argument("corpus", help="a built corpus.jsonl (generalize-corpus with generalize.corpus: build)")
    p.add_argument("--report", required=True, help="that corpus's report.json (snapshot commits)")
    p.add_argument("--projects", nargs="+", default=["jq", "libexif", "libssh2"])
    p.add_argument("--pairs", type=int, default=100, help="mined pairs per project")
    p.add_argument("--benign", type=int, default=250, help="benign snapshot functions per project")
    p.add_argument("--out", default="data/sample/generalize_sample.jsonl.gz")
    p.add_argument("--seed", type=int, default=20261206)
    p = add("s3-check", cmd_s3_check, "can dvc push/pull reach the DVC remote on S3? if not, why, in one line")
    p.add_argument("--remote", default=None, help="DVC remote name (default: core.remote)")
    p.add_argument("--create", action="store_true", help="create the remote's bucket when it does not exist")
    p = add("sagemaker", cmd_sagemaker, "run the pipeline (or one `dvc exp run -S ...`) as a SageMaker training job")
    from streamguard.cloud.options import add_arguments as add_sagemaker_arguments

    add_sagemaker_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("train", "oof", "pretrain"):  # nproc_per_node > 1: the same command under torchrun
            from streamguard.training.launch import relaunch_stage

            argv = sys.argv[1:] if argv is None else argv
            relaunched = relaunch_stage(args.command, getattr(args, "model", ""), _params(args), argv)
            if relaunched is not None:
                return relaunched
        status = args.func(args)  # None, or an exit status (scan --fail-on-findings)
    except (StreamGuardError, FileNotFoundError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        # last line of defence: input problems deserve a message at their source, but never a traceback
        err_console.print(
            f"[bold red]error:[/] {type(exc).__name__}: {str(exc)[:500]}", highlight=False, soft_wrap=True
        )
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
