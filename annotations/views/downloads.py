"""Small file downloads shared by the researcher pages."""

import csv

from django.http import HttpResponse

from annotations.exports import spreadsheet_safe


def csv_download(rows: list[dict], filename: str) -> HttpResponse:
    """``rows`` (dicts with the same keys) as a CSV attachment, texts spreadsheet-safe; an
    empty list gives an empty file."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if rows:
        writer = csv.DictWriter(response, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return response
