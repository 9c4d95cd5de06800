import io
import zipfile

from openpyxl import load_workbook

from experience.core import xlsx


def test_formula_like_text_stays_text():
    data = xlsx.workbook(
        [
            (
                "表",
                ["名称", "数"],
                [['=HYPERLINK("http://x")', 1], ["+1+2", 2], ["@SUM(A1)", 3], ["-3+4", 4], ["普通", 5]],
            )
        ]
    )
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    ws = load_workbook(io.BytesIO(data)).active
    assert ws["A2"].value == '=HYPERLINK("http://x")' and ws["A2"].data_type == "s"
    assert ws["B2"].value == 1
    assert [c.value for c in ws[1]] == ["名称", "数"]
