"""``impasto batch``: many pictures, one network load per worker, here or on a Ray cluster.

    impasto batch jobs.csv                                   # a manifest: one job per line
    impasto batch --content photos/ --style a.jpg --style b.jpg -o out/ --style-weight 6e7,1.2e8
    impasto batch jobs.jsonl --ray auto                      # the same jobs on a Ray cluster

The whole batch is planned and checked first (files, options, output folders): a mistake
anywhere is one line and exit 2 before any work (``--skip-bad`` leaves bad lines out instead).
Then every job not already done runs; a job that fails is reported in the results manifest and
the batch goes on. Each way a batch can end has its own exit status (``EXIT_STATUSES``, shown by
``--help``), so a script can tell "fix your command" from "some photos failed" from "impasto
broke". The batch modules are imported inside the command, so ``--help`` and argument errors
answer without loading torch (or Ray).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import ImpastoError
from .flags import add_option_flags, number, typed
from .stylize import EXIT_INTERRUPTED

EXIT_DONE, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
EXIT_STATUSES = f"""exit status:
  {EXIT_DONE}    every job is done (now, or by an earlier run)
  {EXIT_SOME_FAILED}    the batch ran, and some jobs failed or were left out as bad (--skip-bad);
       each is named on stderr (the first ten) and in the results manifest
  {EXIT_USAGE}    a usage error or bad input found before any work (one line on stderr); nothing ran
  {EXIT_BUG}    an unexpected error inside impasto (a bug: --verbose prints where); finished
       pictures are kept, rerun to do the rest
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); finished pictures are kept, rerun to do the rest"""
SHOWN = 10  # failures and left-out lines named on stderr


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "batch", help="paint many jobs (a manifest, or contents x styles x option sweeps), locally or on Ray",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_STATUSES,
        description="Run many style transfers with one network load per worker. Give a manifest (CSV with a\n"
                    "header row, or JSONL: content, style (several separated by ';'), output, model, preset,\n"
                    "and any option by its flag's name), or the shorthand --content/--style/--model -o OUTDIR\n"
                    "whose option flags take several comma-separated values (one job per combination).\n"
                    "Rerunning skips jobs already done with the same inputs and options.\n\n"
                    "Folders for outputs are made only inside -o OUTDIR (made itself when its parent exists)\n"
                    "or, without -o, inside the manifest's folder; an output elsewhere needs a folder that exists.")
    b.add_argument("manifest", nargs="?", help="a .csv, .tsv or .jsonl file of jobs (paths relative to it)")
    b.add_argument("--content", action="append", default=[], metavar="PATH",
                   help="a photo, or a folder of photos walked with its subfolders, whose outputs keep the "
                        "subfolder: DIR/2019/a.jpg -> OUTDIR/2019/a__STYLE.png (repeat)")
    b.add_argument("--style", action="append", default=[], metavar="IMAGE", help="a style image (repeat)")
    b.add_argument("--model", action="append", default=[], metavar="MODEL",
                   help="a feed-forward style, a shipped name or a model file (repeat); any: each --style painted "
                        "by the arbitrary-style network instead of optimised")
    b.add_argument("-o", "--output", metavar="OUTDIR",
                   help="folder for the pictures (named from their inputs and swept options); with a "
                        "manifest, its relative outputs are taken from here")
    b.add_argument("--format", default="png", choices=("png", "jpg", "webp"), help="format of named outputs")
    b.add_argument("--results", metavar="FILE.jsonl",
                   help="the results manifest (default: OUTDIR/results.jsonl, or MANIFEST.results.jsonl)")
    b.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="run on a Ray cluster: auto (the one this machine joined), HOST:PORT, or local "
                        '(a private one here); needs pip install "impasto[ray]"')
    b.add_argument("--threads", type=number(int), metavar="N",
                   help="CPU threads per job (with --ray: CPUs Ray reserves for each CPU job; default 4 or a node's all)")
    b.add_argument("--retries", type=number(int), default=3, metavar="N",
                   help="with --ray: how often a job whose worker or node died is run again (default 3)")
    b.add_argument("--skip-bad", action="store_true",
                   help="leave out lines or contents that cannot run (a missing or unreadable file, a bad value, "
                        "a second job writing the same output) and run the rest; each is named on stderr, "
                        "recorded as 'rejected' in the results manifest, and makes the exit status 1")
    b.add_argument("--dry-run", action="store_true", help="plan and check, list what would run, run nothing")
    b.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    b.add_argument("--verbose", action="store_true",
                   help="let Ray's own log lines through, and print the traceback of an unexpected error")
    add_option_flags(b, sweeps=True)
    b.set_defaults(func=cmd_batch)


def _results_path(args: argparse.Namespace, out_dir: Path | None) -> Path:
    if args.results:
        return Path(args.results)
    if out_dir is not None:
        return out_dir / "results.jsonl"
    return Path(args.manifest).with_suffix(".results.jsonl")


def _plan(args: argparse.Namespace, problems: list | None) -> tuple[list, Path, Path, Any]:
    """The checked jobs, the results manifest's path, the folder inside which output folders may
    be made, and the input digests (cached beside the results)."""
    from ..batch.digests import CachedDigests
    from ..batch.manifest import plan, read_manifest, shorthand
    from ..batch.records import SIDECAR_DIR

    chosen = typed(args)
    presets = args.preset or (None,)
    out_dir = Path(args.output) if args.output else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ImpastoError(f"-o {out_dir}: not a folder")
    if out_dir is not None and not out_dir.absolute().parent.is_dir():
        raise ImpastoError(f"-o {out_dir}: folder {out_dir.absolute().parent} does not exist")
    if args.manifest:
        if args.content or args.style or args.model:
            raise ImpastoError("give a manifest or --content/--style/--model, not both")
        several = [k for k, v in chosen.items() if isinstance(v, tuple) and len(v) > 1 and k != "masks"]
        if several or len(presets) > 1:
            raise ImpastoError(f"several values for {', '.join(several) or 'preset'} sweep only with the shorthand; "
                               "in a manifest, write one line per job")
    elif out_dir is None:
        raise ImpastoError("the shorthand needs -o OUTDIR for its pictures")
    results = _results_path(args, out_dir)
    digest = CachedDigests(results.parent / SIDECAR_DIR / (results.name + ".inputs.json"))
    if args.manifest:
        defaults = {k: v[0] if isinstance(v, tuple) and k != "masks" else v for k, v in chosen.items()}
        manifest = Path(args.manifest)
        jobs = plan(read_manifest(manifest, problems), defaults, presets[0], manifest.parent, out_dir, args.format,
                    digest, problems)
        root = out_dir if out_dir is not None else manifest.parent
    else:
        sweeps = {k: (v if isinstance(v, tuple) and k != "masks" else (v,)) for k, v in chosen.items()}
        requests = shorthand(args.content, args.style, args.model, sweeps, presets, skip=out_dir)
        jobs = plan(requests, {}, None, Path.cwd(), out_dir, args.format, digest, problems)
        root = out_dir
    if args.results and results.parent.resolve() != Path(root).resolve() and not results.parent.is_dir():
        raise ImpastoError(f"--results {results}: folder {results.parent} does not exist")
    return jobs, results, Path(root), digest


def _say(lines: list[str], more: int, results: Path) -> None:
    for line in lines:
        print(f"impasto: {line}", file=sys.stderr)
    if more > 0:
        print(f"impasto: ... and {more} more (see {results})", file=sys.stderr)


def cmd_batch(args: argparse.Namespace) -> int:
    try:
        return _batch(args)
    except (ImpastoError, KeyboardInterrupt):
        raise  # one line and exit 2, or 130: the CLI's own
    except Exception as e:  # noqa: BLE001 - a bug, not the user's input: say so in one line
        if args.verbose:
            traceback.print_exc()
        where = "" if args.verbose else " (--verbose shows where)"
        first = (str(e).strip().splitlines() or ["no message"])[0][:200]
        print(f"impasto: unexpected error, a bug in impasto{where}: {type(e).__name__}: {first}", file=sys.stderr)
        return EXIT_BUG


def _batch(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise ImpastoError(f"--threads must be at least 1, not {args.threads}")
    if args.retries < 0:
        raise ImpastoError(f"--retries must be at least 0, not {args.retries}")
    problems: list[tuple[str, str]] | None = [] if args.skip_bad else None
    jobs, results, root, digest = _plan(args, problems)
    problems = problems or []
    from ..batch.folders import check_folders

    check_folders([j.output for j in jobs] + [str(results)], [root], create=not args.dry_run)
    _say([f"{where}: left out: {why}" for where, why in problems[:SHOWN]], len(problems) - SHOWN, results)
    if args.dry_run:
        from ..batch.records import finished

        for job in jobs:
            state = "done" if finished(job) else "to do"
            print(f"{job.id}\t{state}\t{job.content}\t{job.model or ';'.join(job.styles)}\t{job.output}")
        return EXIT_SOME_FAILED if problems else EXIT_DONE
    digest.save()
    if args.ray is not None:
        from ..batch.rayexec import RayExecutor

        executor = RayExecutor(args.ray, args.threads, args.retries, quiet=not args.verbose)
    else:
        from ..batch.local import LocalExecutor

        executor = LocalExecutor(args.threads)
    from ..batch.runner import run_batch

    s = run_batch(jobs, executor, results, args.quiet, problems)
    _say([f"{job.where} ({Path(job.content).name}) failed: {error}" for job, error in s.failed[:SHOWN]],
         len(s.failed) - SHOWN, results)
    ended = s.done + s.skipped + len(s.failed) + len(s.rejected)
    if s.interrupted:
        print(f"impasto: interrupted after {ended} of {s.total} jobs; what is done is kept, rerun the same "
              f"command to do the rest (results in {results})", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        left = f", {len(s.rejected)} left out as bad" if s.rejected else ""
        print(f"batch of {s.total} on {executor.name}: {s.done} done, {s.skipped} already done, "
              f"{len(s.failed)} failed{left} in {s.seconds:.1f} s; results in {results}", file=sys.stderr)
    return EXIT_SOME_FAILED if s.failed or s.rejected else EXIT_DONE
