"""The rules of a text work: 字 counted as the call means, files read as people save them."""

import io
import zipfile
from pathlib import Path

import docx
import pytest
from flask_babel import force_locale

from experience.core.errors import RuleError
from experience.works.texts import (
    CHAR_COUNT_RULE,
    TEXT_MAX_CHARS,
    check_text,
    count_chars,
    read_text_file,
)

FIXTURES = Path("/work/shared/fixtures/works")
PASSAGE = "服务认证让消费更放心。\n第二段：体验周在九月举行！"


def _refused(fn, *args) -> RuleError:
    with pytest.raises(RuleError) as caught:
        fn(*args)
    return caught.value


def _docx(*paragraphs: str, table: list[list[str]] | None = None, merge_first_row: bool = False) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
        if merge_first_row:
            grid.cell(0, 0).merge(grid.cell(0, len(table[0]) - 1))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


# -- Counting --------------------------------------------------------------------------------


def test_whitespace_of_every_kind_is_not_counted():
    text = "服务　认证\t体验\r\n周 2024\u00a0年\u2028九月\n"
    assert count_chars(text) == len("服务认证体验周2024年九月")


def test_punctuation_and_latin_letters_count_one_each():
    assert count_chars("《通知》：Service，认证！") == 16


def test_the_counting_rule_is_said_in_chinese(app):
    with force_locale("zh_Hans_CN"):
        assert "字数按非空白字符计算" in str(CHAR_COUNT_RULE)


# -- The limit, with the fixtures -------------------------------------------------------------


@pytest.mark.parametrize("name", ["text_3000_chars.txt", "text_3000_chars.docx"])
def test_3000_characters_pass(name):
    text = check_text(read_text_file((FIXTURES / name).read_bytes(), name))
    assert count_chars(text) == TEXT_MAX_CHARS


@pytest.mark.parametrize("name", ["text_3001_chars.txt", "text_3001_chars.docx"])
def test_3001_characters_are_refused_with_the_count(app, name):
    text = read_text_file((FIXTURES / name).read_bytes(), name)
    error = _refused(check_text, text)
    assert error.code == "text_too_long"
    assert error.params["count"] == 3001
    with force_locale("zh_Hans_CN"):
        message = str(error)
    assert "3001" in message
    assert "删减 1 字" in message


def test_typed_text_is_trimmed_and_its_line_breaks_made_uniform():
    assert check_text("  第一段\r\n第二段\r第三段\n\n ") == "第一段\n第二段\n第三段"


def test_blank_text_is_refused():
    assert _refused(check_text, " \u3000\n\t").code == "text_empty"


# -- .txt in the encodings Notepad writes -----------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_txt_in_each_encoding_reads_the_same(encoding):
    assert read_text_file(PASSAGE.encode(encoding), "作品.txt") == PASSAGE


def test_a_gb18030_only_character_reads_back():
    text = "䶮与𠀀：扩展汉字"
    assert read_text_file(text.encode("gb18030"), "a.TXT") == text


@pytest.mark.parametrize(
    "junk",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        bytes(range(256)) * 8,
        PASSAGE.encode("utf-16-le"),  # UTF-16 without its BOM: full of NULs read any other way
    ],
)
def test_binary_junk_named_txt_is_refused(junk):
    assert _refused(read_text_file, junk, "作品.txt").code == "text_file_unreadable"


@pytest.mark.parametrize("name", ["作品.doc", "作品.wps", "作品.pdf", "作品", "作品.txt.exe"])
def test_other_file_types_are_refused(name):
    assert _refused(read_text_file, b"anything", name).code == "text_file_type"


def test_an_empty_file_is_refused():
    assert _refused(read_text_file, b"", "作品.txt").code == "text_file_empty"


# -- .docx ------------------------------------------------------------------------------------


def test_docx_paragraphs_and_tables_are_read_in_order():
    data = _docx("标题", "正文第一段", table=[["单元格一", "单元格二"], ["单元格三", "单元格四"]])
    text = read_text_file(data, "作品.docx")
    assert text.split("\n") == ["标题", "正文第一段", "单元格一", "单元格二", "单元格三", "单元格四"]


def test_a_merged_table_cell_counts_once():
    data = _docx(table=[["合并的表头", ""], ["左", "右"]], merge_first_row=True)
    assert count_chars(read_text_file(data, "作品.docx")) == len("合并的表头左右")


def test_a_file_named_docx_that_is_not_one_is_refused():
    assert _refused(read_text_file, "纯文本".encode(), "作品.docx").code == "not_docx"


def test_a_zip_that_is_not_a_word_document_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "你好")
    assert _refused(read_text_file, buf.getvalue(), "作品.docx").code == "not_docx"


def test_a_zip_bomb_named_docx_is_refused_before_it_is_unpacked():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (4 * 1024 * 1024))  # packs 1,000 to one
    assert _refused(read_text_file, buf.getvalue(), "作品.docx").code == "too_big_inside"


def test_a_damaged_docx_is_refused():
    data = bytearray(_docx("正文"))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("word/document.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start : start + 50] = b"\xff" * 50  # the document's packed XML overwritten
    assert _refused(read_text_file, bytes(data), "作品.docx").code == "not_docx"
