"""``impasto batch``: many pictures, one network load per worker, here or on a Ray cluster.

    impasto batch jobs.csv                                   # a manifest: one job per line
    impasto batch --content photos/ --style a.jpg --style b.jpg -o out/ --style-weight 6e7,1.2e8
    impasto batch jobs.jsonl --ray auto                      # the same jobs on a Ray cluster

The whole batch is planned and checked first (files, options, outputs): a mistake anywhere is
one line and exit 2 before any work. Then every job not already done runs; a job that fails is
reported in the results manifest and the batch goes on. Exit status: 0 when every job is done
(or was already), else the number of failed jobs (at most 125); 130 after Ctrl-C, with every
finished picture kept. The batch modules are imported inside the command, so ``--help`` and
argument errors answer without loading torch (or Ray).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from ..errors import ImpastoError
from .flags import add_option_flags, number, typed
from .stylize import EXIT_INTERRUPTED

MAX_EXIT = 125  # exit statuses above are the shell's
SHOWN_FAILURES = 10


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "batch", help="paint many jobs (a manifest, or contents x styles x option sweeps), locally or on Ray",
        description="Run many style transfers with one network load per worker. Give a manifest (CSV with a "
                    "header row, or JSONL: content, style (several separated by ';'), output, model, preset, "
                    "and any option by its flag's name), or the shorthand --content/--style/--model -o OUTDIR "
                    "whose option flags take several comma-separated values (one job per combination). "
                    "Rerunning skips jobs already done with the same inputs and options.")
    b.add_argument("manifest", nargs="?", help="a .csv, .tsv or .jsonl file of jobs (paths relative to it)")
    b.add_argument("--content", action="append", default=[], metavar="PATH",
                   help="a photo or a folder of photos (repeat)")
    b.add_argument("--style", action="append", default=[], metavar="IMAGE", help="a style image (repeat)")
    b.add_argument("--model", action="append", default=[], metavar="MODEL",
                   help="a feed-forward style, a shipped name or a model file (repeat)")
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
    b.add_argument("--dry-run", action="store_true", help="plan and check, list what would run, run nothing")
    b.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    add_option_flags(b, sweeps=True)
    b.set_defaults(func=cmd_batch)


def _plan(args: argparse.Namespace) -> tuple[list, Path]:
    """The checked jobs and the results manifest's path."""
    from ..batch.manifest import plan, read_manifest, shorthand

    chosen = typed(args)
    presets = args.preset or (None,)
    out_dir = Path(args.output) if args.output else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ImpastoError(f"-o {out_dir}: not a folder")
    if out_dir is not None and not out_dir.parent.is_dir():
        raise ImpastoError(f"-o {out_dir}: folder {out_dir.parent} does not exist")
    if args.manifest:
        if args.content or args.style or args.model:
            raise ImpastoError("give a manifest or --content/--style/--model, not both")
        several = [k for k, v in chosen.items() if isinstance(v, tuple) and len(v) > 1 and k != "masks"]
        if several or len(presets) > 1:
            raise ImpastoError(f"several values for {', '.join(several) or 'preset'} sweep only with the shorthand; "
                               "in a manifest, write one line per job")
        defaults = {k: v[0] if isinstance(v, tuple) and k != "masks" else v for k, v in chosen.items()}
        manifest = Path(args.manifest)
        jobs = plan(read_manifest(manifest), defaults, presets[0], manifest.parent, out_dir, args.format)
        results = Path(args.results) if args.results else (out_dir / "results.jsonl" if out_dir else
                                                            manifest.with_suffix(".results.jsonl"))
    else:
        if out_dir is None:
            raise ImpastoError("the shorthand needs -o OUTDIR for its pictures")
        sweeps = {k: (v if isinstance(v, tuple) and k != "masks" else (v,)) for k, v in chosen.items()}
        requests = shorthand(args.content, args.style, args.model, sweeps, presets)
        jobs = plan(requests, {}, None, Path.cwd(), out_dir, args.format)
        results = Path(args.results) if args.results else out_dir / "results.jsonl"
    if args.results and not results.parent.is_dir() and results.parent != out_dir:
        raise ImpastoError(f"--results {results}: folder {results.parent} does not exist")
    return jobs, results


def cmd_batch(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise ImpastoError(f"--threads must be at least 1, not {args.threads}")
    if args.retries < 0:
        raise ImpastoError(f"--retries must be at least 0, not {args.retries}")
    jobs, results = _plan(args)
    if args.dry_run:
        from ..batch.records import finished

        for job in jobs:
            state = "done" if finished(job) else "to do"
            print(f"{job.id}\t{state}\t{job.content}\t{job.model or ';'.join(job.styles)}\t{job.output}")
        return 0
    if args.ray is not None:
        from ..batch.rayexec import RayExecutor

        executor = RayExecutor(args.ray, args.threads, args.retries)
    else:
        from ..batch.local import LocalExecutor

        executor = LocalExecutor(args.threads)
    if args.output:
        Path(args.output).mkdir(exist_ok=True)
    from ..batch.runner import run_batch

    s = run_batch(jobs, executor, results, args.quiet)
    for job, error in itertools.islice(s.failed, SHOWN_FAILURES):
        print(f"impasto: {job.where} ({Path(job.content).name}) failed: {error}", file=sys.stderr)
    if len(s.failed) > SHOWN_FAILURES:
        print(f"impasto: ... and {len(s.failed) - SHOWN_FAILURES} more failed (see {results})", file=sys.stderr)
    ended = s.done + s.skipped + len(s.failed)
    if s.interrupted:
        print(f"impasto: interrupted after {ended} of {s.total} jobs; what is done is kept, rerun the same "
              f"command to do the rest (results in {results})", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"batch of {s.total} on {executor.name}: {s.done} done, {s.skipped} already done, "
              f"{len(s.failed)} failed in {s.seconds:.1f} s; results in {results}", file=sys.stderr)
    return min(len(s.failed), MAX_EXIT)
