"""``impasto batch``: many style transfers with one network load per worker, here or on Ray.

The pieces, in the order a batch goes through them:

* ``jobs.py``      a Job (inputs, resolved options, output, the key of its inputs and options)
* ``manifest.py``  manifests (CSV/JSONL) and the shorthand (contents x styles x sweeps) -> Jobs
* ``worker.py``    run_job: one job painted where it runs, one loaded network per process
* ``local.py``     LocalExecutor: in this process (the default; nothing to install)
* ``rayexec.py``   RayExecutor: Ray tasks in a bounded window, model actors for feed-forward jobs (``impasto[ray]``)
* ``records.py``   results, resume sidecars, the results manifest
* ``folders.py``   output folders checked (and made) before any work, a killed run's leftovers removed
* ``digests.py``   input hashes cached by size and modification time, so reruns read only what changed
* ``runner.py``    run_batch: skip what is done, write what ends, progress, Ctrl-C
* ``video.py``     a long video painted in overlapping chunks on Ray

From Python::

    from impasto.batch import LocalExecutor, plan, read_manifest, run_batch
    jobs = plan(read_manifest("jobs.csv"), base="." )
    summary = run_batch(jobs, LocalExecutor(), "results.jsonl")

Nothing here imports torch or Ray until a job runs.
"""

from .jobs import Job
from .local import LocalExecutor
from .manifest import plan, read_manifest, shorthand
from .records import Result
from .runner import Summary, run_batch

__all__ = ["Job", "LocalExecutor", "Result", "Summary", "plan", "read_manifest", "run_batch", "shorthand"]
