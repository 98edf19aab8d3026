"""`python -m helpers ...`: the workshop without Jupyter.

    run                  execute every notebook headlessly, in order (what `make workshop` does)
    predict IMAGE        top-5 labels of one image with the eager model
    local start|stop|status|env   the embedded local AWS backend (start --aws-fidelity: the stand-in)
    standin -- CMD       run CMD with BACKEND=aws against the aws-fidelity stand-in (what CI does)
    bench                compile + latency benchmark, printed as a table (or --json)
    cleanup [--backend aws] [--expired] [--yes]   list (and delete) everything the workshop created
    check-account [--backend aws]   can this account run the workshop? one line each, ✓ or ✗ with the fix
    room DIR|s3://...    one HTML page of every attendee's work/report.json: who is stuck where
    loadtest             1, 4 and 8 concurrent clients against a local endpoint (see --help)
    translate status|build|stub|done   the Korean edition (notebooks/ko/), built from the English lessons
    lesson-time [--write]   learner minutes per lesson (core path, extensions) against the 2-hour slot
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _predict(args: argparse.Namespace) -> int:
    import torch

    from helpers.container.inference import top_k
    from helpers.images import preprocess
    from helpers.models import imagenet_labels, load_model, predict_probabilities

    model, spec = load_model(args.model)
    batch = torch.from_numpy(preprocess(args.image, spec))[None]
    probabilities = predict_probabilities(model, batch)[0].numpy()
    print(f"{args.image} ({spec.name}):")
    for row in top_k(probabilities, imagenet_labels()):
        print(f"  {row['probability']:7.2%}  {row['label']}  (class {row['class_id']})")
    return 0


def _local(args: argparse.Namespace) -> int:
    from helpers.local import control
    from helpers.paths import work_dir

    work = work_dir(args.work_dir)
    if args.action == "start":
        info = control.start(work, fidelity="aws" if args.aws_fidelity else "local")
        print(f"local backend running (pid {info.pid}, {info.fidelity} fidelity): {info.endpoint_url}, "
              f"runtime {info.runtime_url}")
    elif args.action == "stop":
        print("stopped" if control.stop(work) else "not running")
    elif args.action == "status":
        info = control.status(work)
        print(f"{work}: running (pid {info.pid}): {info.endpoint_url}, runtime {info.runtime_url}" if info
              else f"{work}: not running")
        print(_backends_table(control.find_backends()))
        return 0 if info else 3
    elif args.action == "env":
        info = control.status(work)
        if info is None:
            print(f"# local backend not running: python -m helpers local start --work-dir {work}", file=sys.stderr)
            return 3
        for key, value in sorted(control.env_vars(info).items()):
            print(f"export {key}={value}")
        for key, value in control.sdk_env_vars(info).items():  # the SageMaker SDK's default bucket
            print(f"export {key}={shlex.quote(value)}")
    return 0


def _standin(args: argparse.Namespace) -> int:
    """Run a command with BACKEND=aws against the aws-fidelity local backend, then stop it.

    This is how CI runs the notebooks' `aws` branch with no account: boto3 honours the explicit
    AWS_ENDPOINT_URL (helpers.aws keeps one it did not set itself), the role comes from
    NEO_WORKSHOP_ROLE_ARN as it would for a user outside SageMaker Studio.
    """
    import os
    import subprocess

    from helpers.aws import BACKEND_ENV, ROLE_ENV
    from helpers.local import control
    from helpers.paths import WORK_DIR_ENV, work_dir

    command = [part for part in args.command if part != "--"]
    if not command:
        raise ValueError("Give the command to run, e.g. python -m helpers standin -- pytest notebooks --nbval-lax")
    work = work_dir(args.work_dir)
    info = control.start(work, fidelity="aws")
    env = {**os.environ, **control.env_vars(info), BACKEND_ENV: "aws", WORK_DIR_ENV: str(work),
           ROLE_ENV: f"arn:aws:iam::{info.account_id}:role/NeoWorkshopSageMakerRole"}
    print(f"stand-in (aws fidelity) at {info.endpoint_url}; running: {' '.join(command)}", flush=True)
    try:
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        control.stop(work)


def _backends_table(backends: list) -> str:
    """Every backend process of this checkout: pid, work dir (and whether it still exists), URLs."""
    from helpers.paths import REPO_ROOT

    if not backends:
        return f"No local backend of this checkout ({REPO_ROOT}) is running."
    lines = [f"Local backends of this checkout ({REPO_ROOT}):"]
    for backend in backends:
        state = "exists" if backend.work_dir_exists else "DELETED (the backend stops itself within a second)"
        found = "" if backend.has_run_file else "; no run file names it: python -m helpers local stop " \
                                                f"--work-dir {backend.work_dir}"
        lines.append(f"  pid {backend.pid}  {', '.join(backend.urls) or '(no port yet)'}\n"
                     f"    work dir {backend.work_dir} ({state}{found})")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    """Execute the notebooks, then write the one-file report of this run (also after a failure)."""
    import os
    import time

    from helpers.paths import WORK_DIR_ENV, work_dir
    from helpers.report import write_report
    from helpers.runner import run_notebooks

    if args.work_dir is not None:  # said on the command line: it wins over an exported $NEO_WORKSHOP_WORK_DIR
        os.environ[WORK_DIR_ENV] = str(Path(args.work_dir).expanduser().resolve())
    started = time.time()
    from helpers.runner import parameter_value

    parameters = {}
    for assignment in args.parameter:
        name, sep, value = assignment.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"-p {assignment!r}: write NAME=VALUE, e.g. -p MODEL_NAME=resnet18")
        parameters[name] = parameter_value(value)
    code = run_notebooks(work=args.work_dir, only=args.only, keep_backend=args.keep_backend, parameters=parameters,
                         core_only=args.core_only, kernel=args.kernel)
    try:
        report = write_report(work_dir(args.work_dir), since=started)
    except Exception as exc:  # noqa: BLE001 - the run's own result must still reach the user
        print(f"Could not write the report ({type(exc).__name__}: {exc}); the executed notebooks "
              "are still under work/executed/.", file=sys.stderr)
        return code or 1
    print(f"Report (one HTML file, opens offline, share it as is): {report}")
    return code


def _own_options(remainder: list[str]) -> list[str]:
    """A sub-command's own options: `main` puts a "--" in front so that argparse.REMAINDER keeps
    the leading ones (`loadtest --clients 1`); the sub-command's parser must not see it (nor one the
    user typed: `bench -- --json`)."""
    while remainder[:1] == ["--"]:
        remainder = remainder[1:]
    return remainder


def _bench(args: argparse.Namespace) -> int:
    from helpers.bench import main as bench_main

    return bench_main(_own_options(args.bench_args))


def _cleanup(args: argparse.Namespace) -> int:
    from helpers.cleanup import main as cleanup_main

    return cleanup_main(args.backend, args.work_dir, args.yes, args.expired)


def _check_account(args: argparse.Namespace) -> int:
    from helpers.check_account import main as check_main

    return check_main(args.backend, args.work_dir)


def _room(args: argparse.Namespace) -> int:
    from helpers.room import main as room_main

    return room_main(args.sources, args.output)


def _loadtest(args: argparse.Namespace) -> int:
    from helpers.loadtest import main as loadtest_main

    return loadtest_main(_own_options(args.loadtest_args))


def _lesson_time(args: argparse.Namespace) -> int:
    from helpers.lesson_time import main as lesson_time_main

    return lesson_time_main(_own_options(args.lesson_time_args))


def _translate(args: argparse.Namespace) -> int:
    from helpers.translations import main as translate_main

    notebooks, cell_ids = (args.names[:1], args.names[1:]) if args.action == "done" else (args.names, [])
    return translate_main(args.action, args.language, notebooks, cell_ids, every_cell=args.all)


TRANSLATE_HELP = """actions:
  status            what is not translated, or translated from English that has changed since (with the
                    change), and notebooks not rebuilt; exit 1 if anything is
  build             write notebooks/<language>/NN_name.ipynb from notebooks/NN_name.ipynb + its translations
  stub              add empty entries for untranslated markdown cells to the translations files
  done NN CELL_ID   after writing a cell's translation: record the English it translates (--all: every
                    translated cell of NN)

NN is a notebook name prefix (02, 02_compile). docs/LESSON_STYLE.md has the translator's workflow."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute the notebooks headlessly")
    run.add_argument("--work-dir", type=Path, default=None, help="default: <repo>/work")
    run.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 01 02")
    run.add_argument("--keep-backend", action="store_true", help="leave the local backend running")
    run.add_argument("--core-only", action="store_true",
                     help="skip the cells tagged `extension`: the core path of a 2-hour slot")
    run.add_argument("--kernel", default=None, metavar="NAME",
                     help="run in this registered Jupyter kernel (e.g. neo-workshop) instead of this Python")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                     help="override a parameters-cell value in the notebooks that define it, e.g. "
                          "-p MODEL_NAME=resnet18 -p REPEATS=10 (values are Python literals or text)")
    run.set_defaults(handler=_run)

    predict = commands.add_parser("predict", help="top-5 labels of one image")
    predict.add_argument("image", type=Path)
    predict.add_argument("--model", default="efficientnet_lite0")
    predict.set_defaults(handler=_predict)

    local = commands.add_parser("local", help="the embedded local AWS backend")
    local.add_argument("action", choices=["start", "stop", "status", "env"])
    local.add_argument("--work-dir", type=Path, default=None, help="default: <repo>/work")
    local.add_argument("--aws-fidelity", action="store_true",
                       help="start: outputs take real AWS's shapes (the stand-in for the aws branch)")
    local.set_defaults(handler=_local)

    standin = commands.add_parser("standin", help="run a command with BACKEND=aws against the aws-fidelity stand-in")
    standin.add_argument("--work-dir", type=Path, default=None, help="default: <repo>/work")
    standin.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    standin.set_defaults(handler=_standin)

    cleanup = commands.add_parser("cleanup", help="list the workshop's resources on a backend; delete with --yes")
    cleanup.add_argument("--backend", choices=["local", "aws"], default="local")
    cleanup.add_argument("--yes", action="store_true", help="delete them (otherwise only list)")
    cleanup.add_argument("--expired", action="store_true",
                         help="only what is past its neo-workshop:expires-at tag (what the account's scheduled cleaner does)")
    cleanup.add_argument("--work-dir", type=Path, default=None, help="local backend's work dir (default: <repo>/work)")
    cleanup.set_defaults(handler=_cleanup)

    check = commands.add_parser("check-account", help="can this account run the workshop? (before the day)")
    check.add_argument("--backend", choices=["local", "aws"], default="aws")
    check.add_argument("--work-dir", type=Path, default=None, help="work dir (default: <repo>/work)")
    check.set_defaults(handler=_check_account)

    room = commands.add_parser("room", help="one HTML page of many attendees' work/report.json files")
    room.add_argument("sources", nargs="+", help="directories or report.json files, or s3://bucket/prefix/")
    room.add_argument("--output", type=Path, default=Path("room.html"), help="the page to write (default: room.html)")
    room.set_defaults(handler=_room)

    loadtest = commands.add_parser("loadtest", help="concurrent clients against a local endpoint", add_help=False)
    loadtest.add_argument("loadtest_args", nargs=argparse.REMAINDER)
    loadtest.set_defaults(handler=_loadtest)

    translate = commands.add_parser("translate", help="the translated editions of the lessons (notebooks/ko/)",
                                    epilog=TRANSLATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    translate.add_argument("action", choices=["status", "build", "stub", "done"])
    translate.add_argument("names", nargs="*", metavar="NN [CELL_ID ...]",
                           help="notebook name prefixes (default: all); for done: one notebook, then cell ids")
    translate.add_argument("--all", action="store_true", help="for done: every translated cell of the notebook")
    translate.add_argument("--language", default="ko", help="the edition (default: ko)")
    translate.set_defaults(handler=_translate)

    lesson_time = commands.add_parser("lesson-time", help="learner minutes per lesson (see --help)", add_help=False)
    lesson_time.add_argument("lesson_time_args", nargs=argparse.REMAINDER)
    lesson_time.set_defaults(handler=_lesson_time)

    bench = commands.add_parser("bench", help="compile + latency benchmark (see --help)", add_help=False)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["bench"], ["loadtest"], ["lesson-time"]):  # they parse their own options (REMAINDER drops leading ones)
        argv = [argv[0], "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
