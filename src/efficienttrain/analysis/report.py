"""Plain-text tables and CSV/JSON files for the analysis results."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

__all__ = ["format_table", "write_csv", "write_json", "fmt_number"]

PathLike = Union[str, Path]


def fmt_number(value: Any, digits: int = 2) -> str:
    """Format a cell: floats with ``digits`` decimals, ``None``/NaN as ``-``, the rest with ``str``.

    Args:
        value: The cell value.
        digits: Decimals for floats.

    Returns:
        The text of the cell.
    """
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 2) -> str:
    """Align a table in columns: the first column left-aligned, the others right-aligned.

    Args:
        headers: Column titles.
        rows: Rows of cells (numbers are formatted with :func:`fmt_number`).
        digits: Decimals for float cells.

    Returns:
        The table as text, one line per row after a header and a rule.
    """
    text = [[str(h) for h in headers]] + [[fmt_number(c, digits) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(text):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: PathLike, fieldnames: Optional[Sequence[str]] = None) -> Path:
    """Write dict rows to a CSV file (parent directories are created).

    Args:
        rows: The rows; the columns are ``fieldnames`` or the keys of the first row.
        path: Output file.
        fieldnames: Column order.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(fieldnames or (rows[0].keys() if rows else []))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in names})
    return path


def _jsonable(obj: Any) -> Any:
    # NaN is not valid JSON: write null instead, so the files load in any JSON reader.
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(data: Any, path: PathLike) -> Path:
    """Write ``data`` as indented JSON (NaN and infinities become ``null``).

    Args:
        data: JSON-like data; paths become strings.
        path: Output file.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    return path
