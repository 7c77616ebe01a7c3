"""Response shapes shared by several routers."""

from __future__ import annotations

import csv
import io

from fastapi.responses import Response


def csv_response(rows: list[dict], name: str) -> Response:
    """Rows of dicts as a CSV download named ``name.csv`` (columns from the first row)."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
