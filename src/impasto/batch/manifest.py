"""From what a user wrote to a list of checked :class:`~impasto.batch.jobs.Job`: a manifest
(CSV or JSONL, one job per line) or the shorthand (contents x styles x models x option sweeps).

Every line is checked here, before any work: files exist, options resolve (through the same
:func:`impasto.resolve` as ``impasto stylize``), counts agree (masks and blend weights per
style), no two jobs write one file. Problems name their line; all are found in one pass and the
first is reported with how many more there are, so a long manifest is fixed in one go. A caller
that would rather go on without the bad lines (``--skip-bad``) collects them instead.

Per-job options use the CLI flags' names (``style_weight``, ``style-weight`` or
``--style-weight``); text values are parsed as the flag parses them (``relu1_1,relu2_1``). Paths
in a manifest are relative to the manifest's folder, outputs to ``-o`` when given.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..values import PARSE  # one reading of "1e3" or "relu1_1,relu2_1", as the flags read it
from ..errors import ImpastoError
from ..fast.options import model_run_settings
from ..images.atomic import output_format
from ..images.formats import INPUT_SUFFIXES
from ..options import BUILTIN_INITS, flag, knobs, resolve
from ..arbitrary.options import any_run_settings
from ..shipped import ANY, model_file
from .jobs import Digests, Job, job_key

FIELDS = ("id", "content", "style", "styles", "model", "output", "preset")
MULTI_SEP = ";"  # several styles or masks in one CSV cell
FORMATS = ("png", "jpg", "webp")


@dataclass
class Request:
    """One job as written, before any check: paths as given, option values typed or text."""

    where: str
    content: str | None = None
    styles: tuple[str, ...] = ()
    model: str | None = None
    output: str | None = None
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    varied: tuple[str, ...] = ()  # option names that differ between jobs: they name the output
    folder: str = ""  # the content's subfolder below the folder given to --content: kept in the output's path


# -- reading ----------------------------------------------------------------------------------------
def option_name(column: str) -> str | None:
    """``style_weight``, ``style-weight`` and ``--style-weight`` (or ``--mask``) are one option."""
    name = column.strip().lstrip("-").replace("-", "_")
    if name in knobs():
        return name
    by_flag = {flag(n).lstrip("-").replace("-", "_"): n for n in knobs()}
    return by_flag.get(name)


def _typed(name: str, value: Any) -> Any:
    """A manifest value as the option wants it: text parsed as its flag parses it, JSON lists as tuples."""
    kind = knobs()[name].kind
    if kind == "masks":
        items = value.split(MULTI_SEP) if isinstance(value, str) else value
        return tuple(str(v).strip() for v in items if str(v).strip())
    if isinstance(value, str):
        try:
            return PARSE[kind](value.strip())
        except Exception as e:  # argparse's ArgumentTypeError, in the flag's own words
            raise ImpastoError(f"{flag(name)}: {e}") from None
    return tuple(value) if isinstance(value, list) else value


def _request(where: str, row: Mapping[str, Any]) -> Request:
    req = Request(where)
    unknown = []
    for column, value in row.items():
        if column is None or value is None or (isinstance(value, str) and not value.strip()):
            continue  # an empty CSV cell: not given
        key = column.strip().lower()
        if key in ("style", "styles"):
            items = value.split(MULTI_SEP) if isinstance(value, str) else value
            req.styles = tuple(str(s).strip() for s in items if str(s).strip())
        elif key in FIELDS:
            setattr(req, key, str(value).strip())
        elif (name := option_name(column)) is not None:
            req.options[name] = _typed(name, value)
        else:
            unknown.append(column)
    if unknown:
        raise ImpastoError(f"unknown column(s) {', '.join(map(repr, unknown))}; use content, style, model, "
                           "output, preset, id and option names such as style_weight")
    return req


def read_manifest(path: str | Path, problems: list[tuple[str, str]] | None = None) -> list[Request]:
    """The lines of a CSV (with a header row) or JSONL (one object per line) manifest. With a
    ``problems`` list, unreadable lines are appended to it as (where, why) and left out."""
    p = Path(path)
    if not p.is_file():
        raise ImpastoError(f"no such manifest: {p}" if not p.exists() else f"{p} is not a file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ImpastoError(f"cannot read the manifest {p}: {e}") from None
    requests, errors = [], []
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{p.name} line {n}"
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ImpastoError("each line must be a JSON object")
                requests.append(_request(where, row))
            except json.JSONDecodeError as e:
                errors.append((where, f"not JSON ({e.msg})"))
            except ImpastoError as e:
                errors.append((where, str(e)))
    elif p.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
        for row in reader:
            where = f"{p.name} line {reader.line_num}"
            try:
                requests.append(_request(where, row))
            except ImpastoError as e:
                errors.append((where, str(e)))
    else:
        raise ImpastoError(f"cannot tell the manifest format of {p}: use .csv, .tsv or .jsonl")
    if problems is None:
        _raise_first([f"{where}: {why}" for where, why in errors])
    else:
        problems += errors
    if not requests and not errors:
        raise ImpastoError(f"{p} lists no jobs")
    return requests


def image_files(items: Iterable[str], skip: Path | None = None) -> list[tuple[str, str]]:
    """(file, its subfolder) for each content: files as given (no subfolder); folders walked
    with their subfolders, each image with the folder it sits in relative to the one given, so
    that album/2019/IMG_0001.jpg and album/2020/IMG_0001.jpg name different outputs. Hidden
    entries (``.impasto-batch``, ``.git``) and the folder ``skip`` (the outputs, when they are
    inside the album: a rerun must not paint its own pictures) are left out."""
    files: list[tuple[str, str]] = []
    skip = skip.resolve() if skip is not None else None
    for item in items:
        p = Path(item)
        if not p.is_dir():
            files.append((str(p), ""))
            continue
        found = []
        for root, dirs, names in os.walk(p):
            here = Path(root)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
            rel = here.relative_to(p).as_posix()
            found += [(str(here / n), "" if rel == "." else rel) for n in sorted(names)
                      if not n.startswith(".") and Path(n).suffix.lower() in INPUT_SUFFIXES]
        if not found:
            raise ImpastoError(f"{p}: no images in this folder or below it")
        files += sorted(found, key=lambda f: (f[1], f[0]))
    return files


def shorthand(contents: Sequence[str], styles: Sequence[str], models: Sequence[str],
              sweeps: Mapping[str, tuple[Any, ...]], presets: Sequence[str | None] = (None,),
              skip: Path | None = None) -> list[Request]:
    """Every content x (each style, each model) x every combination of swept option values
    (folders walked as :func:`image_files` does, leaving out ``skip``)."""
    if not contents:
        raise ImpastoError("give a manifest, or --content (files or folders) with --style or --model")
    if not styles and not models:
        raise ImpastoError("--content needs at least one --style or --model")
    names = list(sweeps)
    varied = tuple(n for n in names if len(sweeps[n]) > 1) + (("preset",) if len(presets) > 1 else ())
    combos = list(itertools.product(*(sweeps[n] for n in names)))
    out = []
    by_network = ANY in models  # --model any: each style painted by the arbitrary network, not optimised
    painters = [("any" if by_network else "style", s) for s in styles] + [("model", m) for m in models if m != ANY]
    if by_network and not styles:
        raise ImpastoError("--model any paints with a painting: give --style too")
    for content, folder in image_files(contents, skip):
        for what, painter in painters:
            for preset in presets:
                for values in combos:
                    n = len(out) + 1
                    out.append(Request(f"job {n}", content=content, id=str(n),
                                       styles=(painter,) if what != "model" else (),
                                       model={"model": painter, "any": ANY}.get(what), preset=preset,
                                       options=dict(zip(names, values)), varied=varied, folder=folder))
    return out


# -- checking -----------------------------------------------------------------------------------------
def _shown(v: Any) -> str:
    if isinstance(v, tuple):
        return "+".join(_shown(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def output_name(req: Request, content: str, fmt: str) -> str:
    """``photo__starry_night[__style_weight-1000].png``: the inputs, then the options that vary."""
    painter = "+".join(Path(s).stem for s in req.styles) if req.styles else Path(str(req.model)).stem
    if req.model == ANY:
        painter = f"any_{painter}"
    tags = []
    for name in req.varied:
        value = req.preset if name == "preset" else req.options.get(name)
        tags.append(f"{name}-{_shown(value)}")
    stem = "__".join([Path(content).stem, painter, *tags])
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", stem) + "." + fmt


def _path(base: Path, p: str) -> str:
    return str((base / Path(p).expanduser()).resolve())


def _existing(base: Path, p: str, what: str) -> str:
    path = _path(base, p)
    if not Path(path).is_file():
        raise ImpastoError(f"no such {what} file: {p}" if not Path(path).exists() else f"{what} {p} is a folder")
    return path


def model_ref(base: Path, m: str) -> str:
    """A model file (made absolute) or a shipped style's name (kept: every node has the package)."""
    path = Path(_path(base, m))
    if path.is_file():
        return str(path)
    model_file(m)  # a shipped name (NAME, NAME:small, NAME:large), or the error naming what is shipped
    return m


def check(req: Request, defaults: Mapping[str, Any], preset: str | None, base: Path, out_dir: Path | None,
          fmt: str) -> Job:
    """One request as a Job with resolved options and absolute paths, or a one-line ImpastoError."""
    if not req.content:
        raise ImpastoError("no content image given")
    arbitrary = req.model == ANY
    if bool(req.styles) == bool(req.model) and not arbitrary:
        raise ImpastoError("give style image(s) or a model, not both" if req.styles else
                           "no style image or model given")
    if arbitrary and not req.styles:
        raise ImpastoError("--model any paints with a painting: give style image(s) too")
    content = _existing(base, req.content, "content")
    options = {**defaults, **req.options}
    if options.get("init") not in (None, *BUILTIN_INITS):
        options["init"] = _existing(base, str(options["init"]), "init image")
    if options.get("masks"):
        options["masks"] = tuple(_existing(base, m, "mask") for m in options["masks"])
    preset = req.preset or preset
    if req.model is not None:
        if preset:
            raise ImpastoError("a preset does not apply to a model (a feed-forward model paints in one pass)")
        settings = any_run_settings(options) if arbitrary else model_run_settings(options)
        styles = tuple(_existing(base, s, "style") for s in req.styles)
        job = Job(req.id or req.where, content, "", resolve(**options), styles=styles,
                  model=model_ref(base, req.model), settings=settings, where=req.where)
    else:
        styles = tuple(_existing(base, s, "style") for s in req.styles)
        o = resolve(None, preset, **options)
        if o.masks is not None and len(o.masks) != len(styles):
            raise ImpastoError(f"{len(o.masks)} mask(s) for {len(styles)} style image(s); give one per style")
        if o.style_blend is not None and len(o.style_blend) != len(styles):
            raise ImpastoError(f"--style-blend has {len(o.style_blend)} weights for {len(styles)} style images")
        job = Job(req.id or req.where, content, "", o, styles=styles, where=req.where)
    if req.output:
        output = _path(out_dir or base, req.output)
    elif out_dir is not None:
        output = str(out_dir.resolve() / req.folder / output_name(req, content, fmt))
    else:
        raise ImpastoError("no output given: add an output column, or -o OUTDIR to name outputs there")
    output_format(output)
    if Path(output).is_dir():
        raise ImpastoError(f"output {output} is a folder")
    return replace(job, output=output)


def _raise_first(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - 1} more problem(s); nothing was run)" if len(errors) > 1 else ""
        raise ImpastoError(errors[0] + more)


def plan(requests: Sequence[Request], defaults: Mapping[str, Any] | None = None, preset: str | None = None,
         base: str | Path = ".", out_dir: str | Path | None = None, fmt: str = "png",
         digest: Digests | None = None, problems: list[tuple[str, str]] | None = None) -> list[Job]:
    """Checked jobs with their keys, grouped so that jobs sharing a network run one after another
    (a worker then loads each network once), or an ImpastoError naming the first bad line.

    With a ``problems`` list, bad lines are left out and appended to it as (where, why) instead,
    so the rest can run; ``digest`` hashes the input files (a cached one spares a rerun from
    reading them all again)."""
    if fmt not in FORMATS:
        raise ImpastoError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    base, out = Path(base), Path(out_dir) if out_dir is not None else None
    jobs, seen, ids = [], {}, set()
    digest = digest if digest is not None else Digests()
    bad: list[tuple[str, str]] = []
    for req in requests:
        try:
            job = check(req, defaults or {}, preset, base, out, fmt)
            if job.id in ids:
                raise ImpastoError(f"id {job.id!r} is used twice")
            if job.output in seen:
                raise ImpastoError(f"writes {job.output}, as {seen[job.output]} does")
            jobs.append(replace(job, key=job_key(job, digest)))
            seen[job.output] = req.where
            ids.add(job.id)
        except ImpastoError as e:
            bad.append((req.where, str(e)))
        except OSError as e:
            bad.append((req.where, f"cannot read {e.filename}: {e.strerror}"))
    if problems is None:
        _raise_first([f"{where}: {why}" for where, why in bad])
    else:
        problems += bad
    order = {}
    for job in jobs:
        order.setdefault(job.network_identity(), len(order))
    return sorted(jobs, key=lambda j: order[j.network_identity()])  # stable: manifest order within a group
