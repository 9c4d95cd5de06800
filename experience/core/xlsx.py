"""Spreadsheets people open in Excel or WPS: never let a cell become a formula."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

#: what makes Excel, WPS or LibreOffice read a cell as a formula once it is edited or the
#: sheet is saved as CSV (OWASP's CSV-injection list)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Text as typed, with a leading apostrophe when it would start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _set(cell, value) -> None:
    if isinstance(value, str):
        # A string cell is text in the file as written, but "=HYPERLINK(...)" becomes a
        # formula again when someone edits the cell or saves the sheet as CSV.
        cell.value = safe_text(value)
        cell.data_type = "s"
    else:
        cell.value = value


def workbook(sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence]]]) -> bytes:
    """Sheets as (title, header, rows) to .xlsx bytes."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title=str(title)[:31])
        ws.append([str(h) for h in header])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                _set(ws.cell(row=r, column=c), value)
        for c, h in enumerate(header, start=1):
            ws.column_dimensions[get_column_letter(c)].width = max(10, min(40, len(str(h)) * 2 + 4))
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
