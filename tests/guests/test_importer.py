"""The guest-list importer: pure functions, so no database and no app are needed."""

import io

import pytest
from flask import Flask
from flask_babel import Babel
from openpyxl import Workbook, load_workbook

from experience.config import ROOT
from experience.core.errors import RuleError
from experience.events.models import GuestCategory
from experience.guests.importer import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    ImportRow,
    mark_duplicates,
    parse_guest_file,
    template_xlsx,
)
from experience.guests.models import Salutation

HEADER = ["姓名", "类别", "级别", "单位", "职务", "手机号", "备注"]


def xlsx(rows, title="邀请名单") -> bytes:
    """A workbook whose first sheet holds ``rows`` from A1 down (None leaves a cell empty)."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    ws.cell(row=r, column=c).data_type = "s"  # typed as text, not a formula
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text(rows) -> str:
    return "\r\n".join(",".join(row) for row in rows) + "\r\n"


def codes(issues) -> list[str]:
    return [issue.code for issue in issues]


def by_line(rows: list[ImportRow]) -> dict[int, ImportRow]:
    return {row.line: row for row in rows}


@pytest.fixture
def messy_rows():
    """A list as provinces send it: title row, then header, then rows of every kind of mess."""
    data = xlsx(
        [
            ["服务认证体验活动邀请名单"],  # 1
            ["序号", " 姓 名 ", "类别", "级别", "工作单位", "职务", "联系电话", "备注"],  # 2
            [1, "李四  ", "市政协委员", None, "某市 商务局 ", "副局长", "１３８１２３４１２３４", ""],  # 3
            [2, "王　五", "消费者", None, "", "", "+86 139 1234 5678", None],  # 4
            [3, None, None, None, None, None, None, None],  # 5 blank
            [4, "   ", "  ", None, None, None, None, None],  # 6 spaces only
            [5, "赵六", "新闻媒体", None, "某某日报社", "记者", 13712341234, None],  # 7 a number
            [6, "钱七", "人大代表", "省级", "某某协会", "会长", "86-13612341234", None],  # 8
            [7, "孙八", "律师", None, "", "", "13512341234", None],  # 9 bad category
            [8, "", "消费者", None, "", "", "12345", None],  # 10 no name, bad phone
            [9, "周九", "企业代表", None, "", "", 13412341234.0, "=1+1"],  # 11 float, formula text
            [10, "吴十", "其他", None, "", "", "1.3312341234E10", None],  # 12 sci text
        ]
    )
    return by_line(parse_guest_file(data, "名单.xlsx"))


# -- A messy .xlsx --------------------------------------------------------------------------


def test_header_found_below_title_row(messy_rows):
    assert min(messy_rows) == 3


def test_blank_rows_skipped_and_lines_follow_excel(messy_rows):
    assert sorted(messy_rows) == [3, 4, 7, 8, 9, 10, 11, 12]


def test_full_width_digits_normalised(messy_rows):
    assert messy_rows[3].phone == "13812341234"


def test_plus86_prefix_removed(messy_rows):
    assert messy_rows[4].phone == "13912345678"


def test_86_dash_prefix_removed(messy_rows):
    assert messy_rows[8].phone == "13612341234"


@pytest.mark.parametrize("line, phone", [(7, "13712341234"), (11, "13412341234"), (12, "13312341234")])
def test_phone_stored_as_number_normalised(messy_rows, line, phone):
    assert messy_rows[line].phone == phone
    assert messy_rows[line].ok


def test_trailing_and_repeated_spaces_trimmed(messy_rows):
    assert messy_rows[3].name == "李四"
    assert messy_rows[3].organisation == "某市 商务局"


def test_padding_space_inside_chinese_name_removed(messy_rows):
    assert messy_rows[4].name == "王五"


def test_category_with_level_sets_both(messy_rows):
    row = messy_rows[3]
    assert (row.category, row.level) == (GuestCategory.CPPCC_MEMBER, "city")
    assert row.ok and not row.warnings


def test_level_column_read(messy_rows):
    assert (messy_rows[8].category, messy_rows[8].level) == (GuestCategory.NPC_DEPUTY, "province")


def test_formula_like_text_kept_as_text(messy_rows):
    assert messy_rows[11].note == "=1+1"


def test_bad_rows_reported_on_their_excel_line(messy_rows):
    bad = {line: codes(row.errors) for line, row in messy_rows.items() if not row.ok}
    assert bad == {9: ["category_unknown"], 10: ["name_missing", "phone_invalid"]}


# -- Encodings and file types ----------------------------------------------------------------

CSV_ROWS = [
    ["邀请名单"],
    HEADER,
    ["张三", "全国人大代表", "", "某某省人民政府", "", "13812341234", "䶮"],
    ["", "", "", "", "", "", ""],
    ["李四", "媒体", "", "某某电视台，新闻部", "记者", "13912341234", ""],
]


def test_gbk_and_utf8_bom_csv_give_same_rows():
    text = csv_text(CSV_ROWS).replace("䶮", "")  # not in GBK
    gbk = parse_guest_file(text.encode("gbk"), "名单.csv")
    bom = parse_guest_file(text.encode("utf-8-sig"), "名单.csv")
    assert gbk == bom
    assert [(r.line, r.name, r.category, r.level) for r in gbk] == [
        (3, "张三", GuestCategory.NPC_DEPUTY, "national"),
        (5, "李四", GuestCategory.MEDIA, None),
    ]


def test_gb18030_csv_keeps_characters_missing_from_gbk():
    rows = parse_guest_file(csv_text(CSV_ROWS).encode("gb18030"), "名单.csv")
    assert rows[0].note == "䶮"


def test_chinese_punctuation_in_text_kept():
    rows = parse_guest_file(csv_text(CSV_ROWS).encode("utf-8"), "名单.csv")
    assert rows[1].organisation == "某某电视台，新闻部"


def test_xlsx_renamed_csv_still_read():
    rows = parse_guest_file(xlsx([HEADER, ["张三", "消费者"]]), "名单.csv")
    assert [(r.line, r.name) for r in rows] == [(2, "张三")]


@pytest.mark.parametrize(
    "data, filename",
    [
        (csv_text(CSV_ROWS).encode("utf-8"), "名单.txt"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "名单.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "名单.xls"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "名单.csv"),
    ],
)
def test_not_a_spreadsheet_is_wrong_type(data, filename):
    with pytest.raises(RuleError) as e:
        parse_guest_file(data, filename)
    assert e.value.code == "wrong_type"


def test_damaged_xlsx_is_unreadable():
    with pytest.raises(RuleError) as e:
        parse_guest_file(xlsx([HEADER])[:300], "名单.xlsx")
    assert e.value.code == "unreadable"


def test_csv_cell_with_line_break_is_one_excel_row():
    text = csv_text([HEADER, ["张三", "消费者", "", "", "", "", '"第一行\n第二行"'], ["李四", "消费者"]])
    rows = parse_guest_file(text.encode(), "名单.csv")
    assert [(r.line, r.name) for r in rows] == [(2, "张三"), (3, "李四")]


def test_header_repeated_further_down_skipped():
    data = csv_text([HEADER, ["张三", "消费者"], HEADER, ["李四", "消费者"]]).encode()
    assert [(r.line, r.name) for r in parse_guest_file(data, "名单.csv")] == [(2, "张三"), (4, "李四")]


def test_no_header_in_first_rows():
    with pytest.raises(RuleError) as e:
        parse_guest_file(xlsx([["说明"]] * 10 + [HEADER, ["张三", "消费者"]]), "名单.xlsx")
    assert e.value.code == "no_header"


def test_header_needs_name_and_category():
    with pytest.raises(RuleError) as e:
        parse_guest_file(csv_text([["姓名", "单位"], ["张三", "某某局"]]).encode(), "名单.csv")
    assert e.value.code == "no_header"


def test_more_than_limit_rows_refused():
    rows = [HEADER] + [[f"嘉宾{i}", "消费者"] for i in range(MAX_ROWS + 1)]
    with pytest.raises(RuleError) as e:
        parse_guest_file(csv_text(rows).encode(), "名单.csv")
    assert e.value.code == "too_many_rows"


def test_limit_rows_accepted():
    rows = [HEADER] + [[f"嘉宾{i}", "消费者"] for i in range(MAX_ROWS)]
    assert len(parse_guest_file(csv_text(rows).encode(), "名单.csv")) == MAX_ROWS


def test_english_headers_and_values():
    data = csv_text(
        [
            ["Name", "Category", "Level", "Organisation", "Title", "Phone", "Note"],
            ["Zhang San", "NPC deputy", "city", "ACME", "CEO", "13812341234", ""],
        ]
    ).encode()
    [row] = parse_guest_file(data, "list.csv")
    assert (row.name, row.category, row.level, row.title) == ("Zhang San", GuestCategory.NPC_DEPUTY, "city", "CEO")


def test_header_decorations_ignored():
    data = csv_text([["*姓名", "类别（必填）", "手机号码(选填)"], ["张三", "消费者", "13812341234"]]).encode()
    [row] = parse_guest_file(data, "名单.csv")
    assert (row.name, row.phone) == ("张三", "13812341234")


def test_notes_sheet_in_front_still_finds_list():
    wb = load_workbook(io.BytesIO(xlsx([HEADER, ["张三", "消费者"]])))
    notes = wb.create_sheet("说明", 0)
    notes.append(["栏目", "说明"])
    wb.active = 0
    buf = io.BytesIO()
    wb.save(buf)
    assert [r.name for r in parse_guest_file(buf.getvalue(), "名单.xlsx")] == ["张三"]


# -- Categories and levels -------------------------------------------------------------------


def one_row(category, level="", phone="") -> ImportRow:
    data = csv_text([HEADER, ["张三", category, level, "", "", phone, ""]]).encode()
    [row] = parse_guest_file(data, "名单.csv")
    return row


@pytest.mark.parametrize(
    "text, category, level",
    [
        ("人大代表", GuestCategory.NPC_DEPUTY, None),
        ("区人大代表", GuestCategory.NPC_DEPUTY, "county"),
        ("县政协委员", GuestCategory.CPPCC_MEMBER, "county"),
        ("人大代表（省级）", GuestCategory.NPC_DEPUTY, "province"),
        ("群众", GuestCategory.CONSUMER, None),
        ("记者", GuestCategory.MEDIA, None),
        ("服务业企业代表", GuestCategory.ENTERPRISE, None),
        ("协会代表", GuestCategory.ASSOCIATION, None),
        ("其他", GuestCategory.OTHER, None),
        ("cppcc_member", GuestCategory.CPPCC_MEMBER, None),
    ],
)
def test_category_words(text, category, level):
    row = one_row(text)
    assert (row.category, row.level, row.ok) == (category, level, True)


def test_level_column_agreeing_with_category_accepted():
    row = one_row("市政协委员", "市级")
    assert (row.level, row.errors) == ("city", [])


def test_level_column_disagreeing_with_category_is_error():
    assert codes(one_row("市政协委员", "省").errors) == ["level_conflict"]


def test_level_for_category_without_levels_dropped_with_warning():
    row = one_row("消费者", "省")
    assert (row.level, row.ok, codes(row.warnings)) == (None, True, ["level_not_applicable"])


def test_unknown_level_dropped_with_warning():
    row = one_row("人大代表", "乡镇")
    assert (row.level, row.ok, codes(row.warnings)) == (None, True, ["level_unknown"])


def test_place_name_before_category_keeps_category_warns_level():
    row = one_row("北京市人大代表")
    assert (row.category, row.level, codes(row.warnings)) == (GuestCategory.NPC_DEPUTY, None, ["level_unclear"])


def test_missing_category_is_error():
    assert codes(one_row("").errors) == ["category_missing"]


# -- Phones and lengths ----------------------------------------------------------------------


def test_landline_refused():
    row = one_row("消费者", phone="010-82260862")
    assert (row.phone, codes(row.errors)) == (None, ["phone_landline"])


def test_phone_shortened_by_excel_refused():
    # 1.38123E+10 would otherwise become 13812300000, a valid-looking but wrong mobile.
    assert codes(one_row("消费者", phone="1.38123E+10").errors) == ["phone_shortened"]


@pytest.mark.parametrize("text", ["13812341234.0", "+86-138-1234-1234", "(+86)13812341234", "138 1234 1234"])
def test_phone_written_in_other_ways_normalised(text):
    assert one_row("消费者", phone=text).phone == "13812341234"


def test_blank_phone_is_none():
    row = one_row("消费者", phone="")
    assert (row.phone, row.ok) == (None, True)


@pytest.mark.parametrize("column, limit", [(0, 60), (3, 120), (4, 60), (6, 500)])
def test_text_longer_than_limit_is_error(column, limit):
    cells = ["张三", "消费者", "", "", "", "", ""]
    cells[column] = "长" * (limit + 1)
    [row] = parse_guest_file(csv_text([HEADER, cells]).encode(), "名单.csv")
    assert codes(row.errors) == ["too_long"]


# -- Reading within limits (the hostile workbooks are in test_hostile_files.py) ----------------


def test_a_too_long_text_is_kept_only_as_its_start():
    [row] = parse_guest_file(
        csv_text([HEADER, ["张三", "消费者", "", "", "", "", "备" * MAX_CELL_CHARS]]).encode(), "名单.csv"
    )
    assert codes(row.errors) == ["too_long"]
    assert row.note == "备" * 39 + "…"  # the row is not imported; the preview shows this much


@pytest.mark.parametrize("column, label", [(0, "Name"), (1, "Category"), (2, "Level"), (5, "Mobile"), (6, "Note")])
def test_a_cell_over_the_limit_makes_its_row_an_error_quoting_its_start(column, label):
    cells = ["张三", "人大代表", "省", "某某局", "副局长", "13812341234", ""]
    cells[column] = "长" * (MAX_CELL_CHARS + 1)
    rows = parse_guest_file(csv_text([HEADER, cells, ["李四", "消费者"]]).encode(), "名单.csv")
    [error] = rows[0].errors
    assert (error.code, error.params["limit"], error.params["value"]) == (
        "cell_too_long",
        MAX_CELL_CHARS,
        "长" * 39 + "…",
    )
    assert str(error.params["field"]) == label
    assert rows[0].category is None
    assert rows[1].ok


def test_a_cell_of_the_limit_is_read():
    [row] = parse_guest_file(csv_text([HEADER, ["张三", "消费者".ljust(MAX_CELL_CHARS)]]).encode(), "名单.csv")
    assert row.ok


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_columns_past_the_limit_are_not_read(kind):
    extra = [f"列{i}" for i in range(MAX_COLUMNS)]
    rows = [HEADER + extra, ["张三", "消费者"]]
    data = xlsx(rows) if kind == "xlsx" else csv_text(rows).encode()
    assert len(parse_guest_file(data, f"名单.{kind}").ignored) == MAX_COLUMNS - len(HEADER)
    late = [[*extra, *HEADER], ["", "", "张三", "消费者"]]
    with pytest.raises(RuleError) as e:
        parse_guest_file(xlsx(late) if kind == "xlsx" else csv_text(late).encode(), f"名单.{kind}")
    assert e.value.code == "no_header"


def test_a_csv_quote_never_closed_is_refused_naming_its_row():
    text = csv_text([HEADER, ["张三", "消费者"]]) + '李四,"消费者\r\n' + "后面的内容\r\n" * 30_000
    with pytest.raises(RuleError) as e:
        parse_guest_file(text.encode(), "名单.csv")
    assert e.value.code == "csv_cell_too_long"
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        assert str(e.value).startswith(f"Row 3 has a cell of more than {MAX_CELL_CHARS} characters, so the file")


def test_rows_past_the_limit_are_not_read():
    # the list is refused at its 5,001st guest; the broken cell after it is never reached
    rows = [HEADER] + [[f"嘉宾{i}", "消费者"] for i in range(MAX_ROWS + 1)]
    text = csv_text(rows) + '李四,"消费者' + "后面的内容" * 30_000
    with pytest.raises(RuleError) as e:
        parse_guest_file(text.encode(), "名单.csv")
    assert e.value.code == "too_many_rows"


# -- Duplicates ------------------------------------------------------------------------------


def guest(line, name, organisation="", phone=None) -> ImportRow:
    return ImportRow(
        line=line,
        name=name,
        category=GuestCategory.CONSUMER,
        level=None,
        organisation=organisation,
        title="",
        phone=phone,
        note="",
        errors=[],
        warnings=[],
    )


def test_same_phone_as_existing_guest_is_error():
    row = guest(3, "张三", "甲公司", "13812341234")
    mark_duplicates([row], [("李四", "乙公司", "138 1234 1234")])
    assert codes(row.errors) == ["duplicate_phone"]


def test_same_name_and_organisation_as_existing_guest_is_error():
    row = guest(3, "张三", "Ａ公司 ", "13812341234")
    mark_duplicates([row], [(" 张三", "a公司", None)])
    assert codes(row.errors) == ["duplicate_person"]


def test_same_name_other_organisation_only_warns():
    row = guest(3, "张三", "甲公司", "13812341234")
    mark_duplicates([row], [("张三", "乙公司", "13912341234")])
    assert (row.ok, codes(row.warnings)) == (True, ["same_name"])


def test_same_name_without_organisation_warns_when_a_mobile_tells_them_apart():
    row = guest(3, "张伟", "", "13812341234")
    mark_duplicates([row], [("张伟", "", None)])
    assert (row.ok, codes(row.warnings)) == (True, ["same_name"])


def test_same_name_with_nothing_else_is_a_duplicate_so_a_reimport_adds_nothing():
    row = guest(3, "张伟")
    mark_duplicates([row], [("张伟", "", None)])
    assert codes(row.errors) == ["duplicate_person"]


def test_duplicates_within_file_point_to_first_line():
    rows = [
        guest(3, "张三", "甲公司", "13812341234"),
        guest(4, "李四", "", "13812341234"),
        guest(5, "张三", "甲公司"),
        guest(6, "张三", "乙公司"),
    ]
    mark_duplicates(rows, [])
    assert [(codes(r.errors), r.errors[0].params if r.errors else None) for r in rows[:3]] == [
        ([], None),
        (["duplicate_in_file"], {"line": 3}),
        (["duplicate_in_file"], {"line": 3}),
    ]
    assert codes(rows[3].warnings) == ["same_name_in_file"]


def test_refused_row_does_not_count_as_first_copy():
    first = guest(3, "张三", "甲公司", "13812341234")
    first.errors.append("something else")
    second = guest(4, "张三", "甲公司", "13812341234")
    mark_duplicates([first, second], [])
    assert second.ok


# -- The template and messages ---------------------------------------------------------------


def test_template_round_trips_with_example_row_ok():
    [row] = parse_guest_file(template_xlsx(), "邀请名单模板.xlsx")
    assert row.ok and row.line == 3
    assert (row.category, row.level) == (GuestCategory.NPC_DEPUTY, "province")
    assert codes(row.warnings) == ["example_row"]


def test_template_layout():
    wb = load_workbook(io.BytesIO(template_xlsx()))
    ws = wb.worksheets[0]
    assert ws["A1"].value == "服务认证体验活动邀请名单"
    assert [c.value for c in ws[2]] == ["姓名", "称谓", "类别", "级别", "单位", "职务", "手机号", "备注"]
    assert wb.sheetnames[1] == "说明"
    assert ws["G3"].number_format == "@"  # the phone column stays text


def _dropdowns(ws) -> dict[str, list[str]]:
    """The template's drop-down choices, by the header of their column."""
    headers = {c.column_letter: c.value for c in ws[2]}
    return {
        headers[str(dv.sqref).split(":")[0].rstrip("0123456789")]: dv.formula1.strip('"').split(",")
        for dv in ws.data_validations.dataValidation
    }


def test_the_template_words_levels_as_the_guest_form_does():
    from experience.guests.forms import GuestForm

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", WTF_CSRF_ENABLED=False, BABEL_DEFAULT_LOCALE="zh_Hans_CN")
    Babel(app, default_translation_directories=str(ROOT / "experience" / "translations"))
    with app.test_request_context():
        form_levels = [str(c.label) for c in GuestForm().level.iter_choices() if c.value]
        form_salutations = [str(c.label) for c in GuestForm().salutation.iter_choices() if c.value]
    choices = _dropdowns(load_workbook(io.BytesIO(template_xlsx())).worksheets[0])
    assert form_levels == ["全国", "省级", "市级", "县级"]
    assert choices["级别"] == form_levels
    assert choices["称谓"] == form_salutations == ["先生", "女士"]


def test_every_level_the_template_offers_is_read_back():
    for word, level in zip(("全国", "省级", "市级", "县级"), ("national", "province", "city", "county"), strict=True):
        assert one_row("人大代表", word).level == level


def test_row_message_names_the_line():
    app = Flask(__name__)
    Babel(app)
    rows = [guest(3, "张三", "", "13812341234"), guest(4, "李四", "", "13812341234")]
    mark_duplicates(rows, [])
    with app.test_request_context():
        assert str(rows[1].errors[0]) == "Appears twice in this file, first at line 3."


@pytest.mark.parametrize("header", ["单位及职务", "工作单位", "单位/职务", "工作单位及职务", "单位、职务"])
def test_a_combined_unit_and_title_column_goes_whole_into_the_unit(header):
    rows = parse_guest_file(xlsx([["姓名", "类别", header], ["王五", "消费者", "某某市场监管局 副局长"]]), "a.xlsx")
    assert rows[0].organisation == "某某市场监管局 副局长" and rows[0].title == ""
    assert rows.ignored == []


def test_title_alone_is_the_title_and_every_left_out_column_is_named():
    rows = parse_guest_file(
        xlsx(
            [
                ["序号", "姓名", "类别", "单位", "职务", "联系电话", "手机", "邮箱"],
                [1, "王五", "消费者", "某局", "科长", "010-1", "13800001111", "a@b.cn"],
            ]
        ),
        "a.xlsx",
    )
    assert (rows[0].organisation, rows[0].title, rows[0].phone) == ("某局", "科长", "13800001111")
    # 序号 and 邮箱 match nothing; 联系电话 lost to the better 手机: all three are listed
    assert rows.ignored == ["序号", "联系电话", "邮箱"]


# -- Salutation (称谓) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, salutation",
    [("先生", Salutation.MR), ("女士", Salutation.MS), ("Mr.", Salutation.MR), ("Ms", Salutation.MS), ("", None)],
)
def test_a_salutation_column_is_read(text, salutation):
    [row] = parse_guest_file(csv_text([["姓名", "称呼", "类别"], ["王芳", text, "消费者"]]).encode(), "a.csv")
    assert (row.salutation, row.ok, row.warnings) == (salutation, True, [])


def test_an_unknown_salutation_is_dropped_with_a_warning_and_never_guessed():
    rows = parse_guest_file(
        csv_text([["姓名", "称谓", "类别"], ["王芳", "王女士", "消费者"], ["王芳芳", "", "消费者"]]).encode(), "a.csv"
    )
    assert (rows[0].salutation, rows[0].ok, codes(rows[0].warnings)) == (None, True, ["salutation_unknown"])
    assert rows[1].salutation is None  # no column value: nothing guessed from the name


def test_a_list_without_a_salutation_column_imports_as_before():
    [row] = parse_guest_file(csv_text([HEADER, ["王芳", "消费者", "", "", "", "", ""]]).encode(), "a.csv")
    assert (row.salutation, row.ok) == (None, True)
