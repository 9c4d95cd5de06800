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
    assert ws["A2"].value == '\'=HYPERLINK("http://x")' and ws["A2"].data_type == "s"
    # each formula start is defused, as text that stays text once saved as CSV
    assert [ws.cell(row=r, column=1).value for r in range(3, 7)] == ["'+1+2", "'@SUM(A1)", "'-3+4", "普通"]
    assert ws["B2"].value == 1
    assert [c.value for c in ws[1]] == ["名称", "数"]


def test_tab_and_carriage_return_starts_are_defused_too():
    data = xlsx.workbook([("表", ["备注"], [["\t=1+1"], ["\r=2"], ["13800001111"], ["a=b"]])])
    ws = load_workbook(io.BytesIO(data)).active
    values = [ws.cell(row=r, column=1).value for r in range(2, 6)]
    # (XML reads a stored carriage return back as a line feed: the apostrophe is what matters)
    assert values[0] == "'\t=1+1" and values[1] in ("'\r=2", "'\n=2") and values[2:] == ["13800001111", "a=b"]
