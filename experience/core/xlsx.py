"""Spreadsheets people open in Excel or WPS: never let a cell become a formula."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter


def _set(cell, value) -> None:
    if isinstance(value, str):
        cell.value = value
        # openpyxl turns any string starting with "=" into a formula; a comment such as
        # "=HYPERLINK(...)" must stay the text the person typed.
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
