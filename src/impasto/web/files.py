"""Where a job's images live: one folder per job under the data directory, every name fixed
here. Paths are built only from job ids the server generated and found in its own table."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


INIT = "init.png"


@dataclass(frozen=True)
class JobFiles:
    folder: Path

    @property
    def content(self) -> Path:
        return self.folder / "content.png"

    @property
    def style(self) -> Path:
        return self.folder / "style.png"

    @property
    def preview(self) -> Path:
        return self.folder / "preview.jpg"

    @property
    def result(self) -> Path:
        return self.folder / "result.png"

    @property
    def thumbnail(self) -> Path:
        """The result, small, for the history (made on first request, kept with the job)."""
        return self.folder / "thumb.jpg"

    @property
    def content_thumbnail(self) -> Path:
        """The photo, small, for a job that has neither result nor preview yet."""
        return self.folder / "content-thumb.jpg"

    @property
    def init(self) -> Path:
        """Where a refining job starts from: the instant painting it refines."""
        return self.folder / INIT

    @property
    def resume(self) -> Path:
        """Where a job stopped with the server: its best image so far (``resume.json``: the step)."""
        return self.folder / "resume.png"


class FileArea:
    """The ``jobs/`` folder of the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def for_job(self, job_id: str) -> JobFiles:
        return JobFiles(self.root / job_id)

    def create(self, job_id: str) -> JobFiles:
        files = self.for_job(job_id)
        files.folder.mkdir(parents=False, exist_ok=False)
        return files

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.for_job(job_id).folder, ignore_errors=True)
