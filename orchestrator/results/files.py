"""Writing a run's files: run ids, atomic Parquet and JSON writes, strict JSON.

Every file is written to a temporary name in the same directory and renamed over the old one, so
a crash leaves the previous complete file, never a truncated one.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["new_run_id", "utc_timestamp", "write_parquet", "write_json", "json_default", "clean_json", "read_run_info"]


def new_run_id(name: str, now: float | None = None) -> str:
    """A sortable, unique run id: ``<name>-YYYYmmdd-HHMMSS-<4 hex>``."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


def utc_timestamp(ts: float | None) -> pd.Timestamp | None:
    """Seconds since the epoch as a UTC timestamp (the tables' time columns); None for none."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return None
    return pd.Timestamp(ts, unit="s", tz="UTC")


def _atomic_write(path: str | Path, write: Any) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, fsync, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    _atomic_write(path, lambda f: pq.write_table(table, f))


def read_run_info(run_dir: Any) -> dict[str, Any]:
    """A run's run.json (``run_dir`` a local path or a storage location); empty when it cannot be read."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8") if isinstance(run_dir, Path)
                          else (run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def write_json(obj: Any, path: Any) -> None:
    """Write JSON atomically (same rule as :func:`write_parquet`)."""
    text = json.dumps(obj, indent=2, default=json_default, allow_nan=False)
    if hasattr(path, "fs"):  # a storage Location: written whole (one PUT, or a rename)
        path.write_bytes(text.encode("utf-8"))
        return
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def json_default(x: Any) -> Any:
    """How a value JSON does not know is written: non-finite as null, dates ISO, numpy as Python."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "isoformat"):
        return x.isoformat()
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def clean_json(obj: Any) -> Any:
    """Replace NaN/inf by None so run.json stays strict JSON."""
    return _clean(obj)
