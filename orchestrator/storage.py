"""Storage locations: a local path, or a URI any pyarrow filesystem understands (``s3://``, ``gs://``, ``file://``).

``--out``, ``--history`` and the run directory arguments of ``resume``/``show``/``report`` go through
:func:`resolve`. A plain path stays a :class:`pathlib.Path` handled with local file I/O exactly as
before; a URI becomes a :class:`Location` on the filesystem ``pyarrow.fs.FileSystem.from_uri``
returns for it, with its credentials taken from that filesystem's usual environment (for S3
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``/instance roles, for GCS
``GOOGLE_APPLICATION_CREDENTIALS`` or the metadata server) and its options from the URI's query
(``s3://bucket/prefix?endpoint_override=host:port&scheme=http&region=...``).

A run on a URI keeps a local staging copy of its run directory (the journal and the Parquet files
are written there, fast and atomically) and a :class:`Mirror` copies it to the location at every
periodic flush and at the end. Each file is written whole: a single PUT on an object store (atomic
per object), a temporary name then a rename elsewhere.

This module imports neither Ray nor TensorFlow; pyarrow only when a URI is used.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from .errors import UsageError, first_line

__all__ = ["Location", "Mirror", "is_uri", "resolve", "unfold_uri", "RUN_FILES", "staging", "drop_staging"]

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
# A run directory's own files (what the mirror copies and a resume pulls back); tune/ is Ray Tune's.
RUN_FILES = ("trials.parquet", "epochs.parquet", "events.parquet", "refit_epochs.parquet", "journal.jsonl",
             "report.html", "run.json")
# Filesystems whose objects appear whole when their upload ends (no rename needed, nor possible).
_OBJECT_STORES = {"s3", "gcs", "abfs"}
PROBE_S = 20  # how long resolve() waits for an answer from a GCS location


def is_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URI (``s3://``, ``gs://``, ``file://``, ...) rather than a path."""
    return bool(_URI_RE.match(os.fspath(location)))


def unfold_uri(text: str) -> str:
    """``s3:/bucket/x`` (a URI that went through :class:`pathlib.Path`) back to ``s3://bucket/x``."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]+):/(?!/)", r"\1://", text)


class Location:
    """A directory or file on a pyarrow filesystem, addressed by the URI it was given as.

    ``str(loc)`` is the URI (query kept, so it can be given back to ``sweep show``);
    ``loc.fs``/``loc.path`` are what pyarrow and Ray Tune (``storage_filesystem``/``storage_path``) take.
    """

    def __init__(self, fs: Any, path: str, prefix: str, query: str = "") -> None:
        self.fs, self.path, self._prefix, self._query = fs, path.rstrip("/") or "/", prefix, query

    # -- addressing ----------------------------------------------------------------------------
    def __truediv__(self, name: str) -> "Location":
        return Location(self.fs, f"{self.path.rstrip('/')}/{name}", self._prefix, self._query)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> "Location":
        head = self.path.rstrip("/").rsplit("/", 1)[0]
        return Location(self.fs, head or "/", self._prefix, self._query)

    @property
    def is_object_store(self) -> bool:
        return self.fs.type_name in _OBJECT_STORES

    def __str__(self) -> str:
        return f"{self._prefix}{self.path}" + (f"?{self._query}" if self._query else "")

    def __repr__(self) -> str:
        return f"Location({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    # -- queries -------------------------------------------------------------------------------
    def _info(self) -> Any:
        return self.fs.get_file_info(self.path)

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.Directory

    def is_file(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.File

    def iterdir(self) -> Iterator["Location"]:
        """The entries directly under this directory (none when it does not exist), sorted by name."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        for info in sorted(infos, key=lambda i: i.path):
            yield self / info.base_name

    def walk_files(self) -> list[str]:
        """Paths (relative to this directory) of every file below it, in one listing."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=True, allow_not_found=True))
        root = self.path.rstrip("/") + "/"
        return sorted(i.path[len(root):] for i in infos if i.type == pafs.FileType.File and i.path.startswith(root))

    # -- reading and writing -------------------------------------------------------------------
    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """Write the whole file so that a reader sees the old or the new content, never a part."""
        if self.is_object_store:  # one PUT: the object appears when the upload completes
            with self.fs.open_output_stream(self.path) as f:
                f.write(data)
            return
        tmp = self.parent / f".{self.name}.{secrets.token_hex(4)}.tmp"
        try:
            with self.fs.open_output_stream(tmp.path) as f:
                f.write(data)
            self.fs.move(tmp.path, self.path)
        finally:
            try:
                self.fs.delete_file(tmp.path)
            except (OSError, FileNotFoundError):
                pass

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def rmtree(self) -> None:
        """Delete this directory and everything below it (nothing when it is not there)."""
        if self.is_dir():
            self.fs.delete_dir(self.path)

    def copy_tree_to(self, target: "Location", last: tuple[str, ...] = ("run.json",)) -> None:
        """Copy every file below this directory to ``target`` (same layout), the ``last`` names last.

        A reader that finds a run directory by its run.json then finds its tables complete.
        """
        files = self.walk_files()
        files.sort(key=lambda rel: rel in last)
        made: set[str] = set()
        for rel in files:
            parent = (target / rel).parent
            if not target.is_object_store and parent.path not in made:  # object stores have no directories
                parent.mkdir()
                made.add(parent.path)
            (target / rel).write_bytes((self / rel).read_bytes())

    def download(self, names: tuple[str, ...], local: Path) -> list[str]:
        """Copy the files ``names`` of this directory that exist into the local directory ``local``."""
        got = []
        local.mkdir(parents=True, exist_ok=True)
        for name in names:
            src = self / name
            if src.is_file():
                (local / name).write_bytes(src.read_bytes())
                got.append(name)
        return got


def resolve(location: str | os.PathLike[str] | Location, option: str = "", *, check: bool = True) -> Path | Location:
    """A local path (expanded, absolute) or the :class:`Location` of a URI.

    Args:
        location: what the user gave.
        option: the option or argument to name in an error (``--out``).
        check: for a URI, ask the filesystem about the location once, so that an unreachable
            endpoint or missing credentials fail here, with one line naming ``option``.

    Raises:
        UsageError: an unknown scheme, a malformed URI, an unreachable filesystem (naming ``option``).
    """
    if isinstance(location, Location):
        return location
    text = unfold_uri(os.fspath(location))
    if not is_uri(text):
        return Path(text).expanduser().resolve()
    import pyarrow as pa
    import pyarrow.fs as pafs

    parts = urlsplit(text)
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as e:
        raise UsageError(option, f"{text}: {first_line(e)}") from None
    if fs.type_name == "local":
        prefix = "file://"
    elif fs.type_name in ("s3", "gcs"):
        prefix = f"{parts.scheme}://"
    else:
        prefix = f"{parts.scheme}://{parts.netloc}"
    loc = Location(fs, path, prefix, parts.query)
    if check:
        probe = fs
        if fs.type_name == "gcs" and "retry_limit_seconds" not in parts.query:
            # GCS retries for 15 minutes by default: ask once with a short limit (the run keeps the default)
            probe = pafs.FileSystem.from_uri(f"{text}{'&' if parts.query else '?'}retry_limit_seconds={PROBE_S}")[0]
        try:
            probe.get_file_info(path)
            bucket = path.split("/", 1)[0]
            if loc.is_object_store and bucket and probe.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise UsageError(option, f"{text}: no such bucket {bucket!r}")
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001 - pyarrow raises OSError and friends; say it in one line
            raise UsageError(option, f"{text}: cannot reach: {first_line(e)}") from None
    return loc


class Mirror:
    """Copies a local staging run directory's own files to its :class:`Location`.

    :meth:`push` uploads what changed since the last push (size or modification time), the run's
    tables and journal before run.json. Ray Tune writes ``tune/`` to the location itself.
    """

    def __init__(self, local: Path, remote: Location) -> None:
        self.local, self.remote = Path(local), remote
        self._pushed: dict[str, tuple[int, int]] = {}

    def push(self, names: tuple[str, ...] = RUN_FILES) -> None:
        for name in names:
            f = self.local / name
            try:
                st = f.stat()
            except FileNotFoundError:
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if self._pushed.get(name) == stamp:
                continue
            if "/" in name and not self.remote.is_object_store:  # model/model.keras: its folder first
                (self.remote / name).parent.mkdir()
            (self.remote / name).write_bytes(f.read_bytes())
            self._pushed[name] = stamp


def staging(run_id: str) -> Path:
    """A new local staging directory for a run on a URI (its journal and tables are written here).

    In ``SWEEP_STAGING_DIR`` when set, else in the system's temporary directory.
    """
    parent = os.environ.get("SWEEP_STAGING_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="sweep-staging-", dir=parent)) / run_id


def drop_staging(run_dir: Path) -> None:
    """Delete a staging directory made by :func:`staging` (the run is at its URI)."""
    shutil.rmtree(run_dir.parent, ignore_errors=True)
