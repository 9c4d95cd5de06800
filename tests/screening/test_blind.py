"""Blind means blind: nothing an expert can reach names the unit that submitted a work.

The test plants the unit's name and credit code where a unit's files carry them without
anyone meaning to: the file names, a photo's EXIF (Artist, Copyright, Windows' XPAuthor),
XMP and comment, a .docx's core, app and custom properties, an MP4's container and
stream tags, and the photo's caption's 创作者. Then, as the expert of a blind round, it
follows every link from the list of works to score (the pages, the conflict page, each
photo, video, poster and text file, shown and downloaded) and finds neither, in any
encoding, in any body or header. Copies are stripped in a round that is not blind too.
Then each stripping on its own: what is kept byte for byte, and what goes.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av
import docx
import pytest
import sqlalchemy as sa
from PIL import Image, ImageCms

from experience.core import jobs, storage
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.screening import blind, rounds
from experience.screening.models import Assignment, BlindCopy, CopyState, Entry
from experience.works import services
from experience.works.models import FileKind, Work, WorkCategory, WorkFile
from tests.conftest import NOW
from tests.screening.conftest import AFTER
from tests.works.conftest import CAPTION, stored
from tests.works.media_files import MB, make_video, padded_to, random_jpeg

UNIT_NAME = "北京康乐养老服务有限公司"
CREDIT_CODE = "91310115591693856A"
PLANTED = f"{UNIT_NAME} {CREDIT_CODE}"
BODY = "一位老人在认证后的养老院里度过了安心的一天。" * 10


@pytest.fixture
def unit(make_unit):
    """The unit whose name and credit code are planted (replaces the conftest's unit)."""
    return make_unit("11", name=UNIT_NAME, credit_code=CREDIT_CODE)


# -- Files as a unit's computer makes them ---------------------------------------------------


def planted_jpeg(*, orientation: int = 1, icc: bytes | None = None, size=(640, 480)) -> bytes:
    """A real 5 MB JPEG with the unit in its EXIF, XMP and a comment."""
    exif = Image.Exif()
    exif[0x013B] = UNIT_NAME.encode()  # Artist, UTF-8 as phones and editors write it
    exif[0x8298] = f"© {CREDIT_CODE}"  # Copyright
    exif[0x9C9D] = (UNIT_NAME + "\0").encode("utf-16-le")  # XPAuthor, as Windows writes it
    exif[0x010E] = PLANTED.encode()  # ImageDescription
    if orientation != 1:
        exif[0x0112] = orientation
    extra = {"icc_profile": icc} if icc else {}
    data = random_jpeg(
        size,
        exif=exif.tobytes(),
        xmp=f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{PLANTED}</dc:creator></x:xmpmeta>'.encode(),
        comment=PLANTED.encode(),
        **extra,
    )
    return padded_to(data, 5 * MB)


def planted_docx(text: str = BODY) -> bytes:
    """A .docx whose core, app and custom properties name the unit."""
    document = docx.Document()
    document.add_paragraph(text)
    props = document.core_properties
    props.author = props.last_modified_by = UNIT_NAME
    props.title, props.subject = PLANTED, UNIT_NAME
    props.keywords, props.comments, props.category = CREDIT_CODE, PLANTED, UNIT_NAME
    buf = io.BytesIO()
    document.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    custom = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="单位">'
        f"<vt:lpwstr>{PLANTED}</vt:lpwstr></property></Properties>"
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/app.xml":
                data = data.replace(
                    b"</Properties>",
                    f"<Company>{UNIT_NAME}</Company><Manager>{CREDIT_CODE}</Manager></Properties>".encode(),
                )
            elif info.filename == "_rels/.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/custom-properties" Target="docProps/custom.xml"/></Relationships>',
                )
            elif info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-'
                    b'officedocument.custom-properties+xml"/></Types>',
                )
            dst.writestr(info.filename, data)
        dst.writestr("docProps/custom.xml", custom.encode())
    return out.getvalue()


def planted_mp4(folder: Path, **video) -> bytes:
    """A short H.264/AAC MP4 with the unit in its container's and streams' tags, index
    first: browsers play it as it is, so experts get a copy of this very file."""
    plain = make_video(folder / "plain.mp4", seconds=1, **video)
    target = folder / "planted.mp4"
    with av.open(str(plain)) as src, av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        out.metadata.update({"title": PLANTED, "artist": UNIT_NAME, "comment": CREDIT_CODE, "copyright": UNIT_NAME})
        mapped = {}
        for stream in src.streams:
            copy = out.add_stream_from_template(stream)
            copy.metadata.update({"title": UNIT_NAME, "handler_name": PLANTED})
            mapped[stream.index] = copy
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = mapped[packet.stream.index]
            out.mux(packet)
    data = target.read_bytes()
    assert UNIT_NAME.encode() in data and CREDIT_CODE.encode() in data  # planted indeed
    return data


@pytest.fixture
def planted_works(submitted_work, unit, tmp_path):
    """A text work uploaded as a .docx, a photo work, a video work: every file planted,
    every file name naming the unit, submitted at NOW."""
    filename = f"{UNIT_NAME}-{CREDIT_CODE}"
    caption = dict(CAPTION, creator=f"{UNIT_NAME}宣传部")
    video_bytes = planted_mp4(tmp_path)

    def text(work):
        services.attach_text_file(work, stored(planted_docx(), f"{filename}.docx", "docx"), actor=unit.account, now=NOW)

    def photo(work):
        data = planted_jpeg(orientation=6)
        services.attach_photo(work, stored(data, f"{filename}.jpg", "jpg"), caption, actor=unit.account, now=NOW)

    def video(work):
        services.attach_video(work, stored(video_bytes, f"{filename}.mp4", "mp4"), actor=unit.account, now=NOW)

    return [
        submitted_work(unit, category=WorkCategory.TEXT, prepare=text, title="银发守护"),
        submitted_work(unit, category=WorkCategory.PHOTO, prepare=photo, title="安心的一天"),
        submitted_work(unit, category=WorkCategory.VIDEO, prepare=video, title="认证之路"),
    ]


def open_round(screening_round, secretariat, **settings):
    round_ = screening_round(experts_per_work=1, **settings)
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()  # the copies' job runs once this commits (at once in the tests)
    return round_


# -- What the expert can reach ---------------------------------------------------------------

NEEDLES = [
    (text, encoding, text.encode(encoding))
    for text in (UNIT_NAME, CREDIT_CODE, "13812345678", "王小明")  # and the work's contact
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
]


def parts(data: bytes) -> list[tuple[str, bytes]]:
    """The bytes, and a zip's (a .docx's) parts unpacked: compressed, a name would hide."""
    found = [("", data)]
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            found += [(name, z.read(name)) for name in z.namelist()]
            found.append(("zip comment", z.comment))
    return found


def assert_nothing_names_the_unit(url: str, response) -> None:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for text, _enc, _needle in NEEDLES:
        assert text not in headers, (url, headers)
        assert text not in unquote(headers), (url, headers)
    for part, data in parts(response.get_data()):
        for text, encoding, needle in NEEDLES:
            assert needle not in data, f"{text} ({encoding}) in {url} {part}"


def crawl(client, start: str = "/review") -> dict[str, object]:
    """Every page and file of the expert's side reachable by following links from
    ``start`` (GET only, as a person clicks), and the start page after login: url →
    response."""
    seen: dict[str, object] = {}
    queue = ["/", start]
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        response = client.get(url, follow_redirects=True)  # "/" sends an expert to their list
        response.get_data()  # read whole, kept for the checks, and the file's stream closed
        response.close()
        assert response.status_code == 200, url
        seen[url] = response
        if response.mimetype == "text/html":
            for link in re.findall(r'(?:href|src|poster)="([^"#]+)', response.get_data(as_text=True)):
                link = html.unescape(link)
                if link.startswith("/review"):
                    queue.append(link)
    return seen


def files_of(reached: dict) -> dict[str, object]:
    return {url: r for url, r in reached.items() if "/files/" in urlsplit(url).path}


# -- The blind test --------------------------------------------------------------------------


def test_an_expert_of_a_blind_round_finds_the_unit_nowhere(
    planted_works, screening_round, secretariat, make_expert, client, auth
):
    make_expert("ex1")
    round_ = open_round(screening_round, secretariat)
    copies = db.session.scalars(sa.select(BlindCopy)).all()
    assert {c.state for c in copies} == {CopyState.READY}
    assert auth.login("ex1").status_code == 302
    reached = crawl(client)

    # every work's page, its conflict page, and its files were reached
    ids = db.session.scalars(sa.select(Assignment.id).where(Assignment.round_id == round_.id)).all()
    assert len(ids) == 3
    for a in ids:
        assert f"/review/{a}" in reached
        assert f"/review/{a}/conflict" in reached
    downloaded = files_of(reached)
    kinds = {r.mimetype for r in downloaded.values()}
    assert kinds == {"image/jpeg", "video/mp4", blind.DOCX_TYPE}
    assert any("attachment" in r.headers.get("Content-Disposition", "") for r in downloaded.values())
    # the text's file; the photo shown at screen size and downloaded whole; the video
    # shown and downloaded, and its poster
    assert len(downloaded) == 1 + 2 + 3

    for url, response in reached.items():
        assert_nothing_names_the_unit(url, response)

    # what an expert reads still makes sense: the text, the caption, the pictures play
    work_pages = "".join(reached[f"/review/{a}"].get_data(as_text=True) for a in ids)
    assert BODY[:30] in work_pages
    assert CAPTION["description"] in work_pages
    assert "宣传部" not in work_pages  # the caption's 创作者 is not shown in a blind round
    for url, response in downloaded.items():
        check_file_is_clean_and_whole(url, response.get_data())

    # every download was logged, naming the expert and the assignment, not the unit
    logged = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.copy_download")).all()
    attachments = [u for u, r in downloaded.items() if "attachment" in r.headers.get("Content-Disposition", "")]
    assert len(logged) == len(attachments)
    assert {e.actor_name for e in logged} == {"ex1"}


def check_file_is_clean_and_whole(url: str, data: bytes) -> None:
    if data[:2] == b"\xff\xd8":
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # it decodes
            exif = image.getexif()
            assert 0x013B not in exif and 0x8298 not in exif and 0x9C9D not in exif, url
            assert "xmp" not in image.info and "comment" not in image.info, url
    elif data[:4] == b"PK\x03\x04":
        document = docx.Document(io.BytesIO(data))
        assert document.paragraphs[0].text == BODY
        props = document.core_properties
        assert (props.author, props.last_modified_by, props.title, props.keywords, props.comments) == ("",) * 5
        assert "docProps/custom.xml" not in zipfile.ZipFile(io.BytesIO(data)).namelist()
    else:
        with av.open(io.BytesIO(data)) as video:
            tags = dict(video.metadata)
            stream_tags = [dict(s.metadata) for s in video.streams]
            assert video.streams.video[0].frames > 0
        for value in [*tags.values(), *(v for t in stream_tags for v in t.values())]:
            assert UNIT_NAME not in value and CREDIT_CODE not in value, (url, tags, stream_tags)
        assert not {"title", "artist", "comment", "copyright"} & set(tags), tags


def test_copies_are_stripped_in_a_round_that_is_not_blind_too(
    planted_works, screening_round, secretariat, make_expert, client, auth
):
    make_expert("ex1")
    round_ = open_round(screening_round, secretariat, blind=False)
    auth.login("ex1")
    reached = crawl(client)
    downloaded = files_of(reached)
    assert len(downloaded) == 6
    for url, response in downloaded.items():
        assert_nothing_names_the_unit(url, response)
        check_file_is_clean_and_whole(url, response.get_data())
    # the pages may name the unit here, and the photographer
    photo = db.session.scalar(
        sa.select(Assignment)
        .join(Entry)
        .join(Work)
        .where(Assignment.round_id == round_.id, Work.category == WorkCategory.PHOTO)
    )
    page = reached[f"/review/{photo.id}"].get_data(as_text=True)
    assert UNIT_NAME in page
    assert f"{UNIT_NAME}宣传部" in page


def test_the_works_own_file_routes_still_refuse_an_expert(
    planted_works, screening_round, secretariat, make_expert, client, auth
):
    make_expert("ex1")
    open_round(screening_round, secretariat)
    auth.login("ex1")
    for work in planted_works:
        assert status(client, f"/works/{work.id}") == 404
        for f in db.session.get(Work, work.id).files:
            assert status(client, f"/works/files/{f.id}") == 404


def test_a_copy_of_another_work_or_another_experts_is_not_served(
    planted_works, screening_round, secretariat, make_expert, client, auth
):
    make_expert("ex1")
    make_expert("ex2")
    round_ = open_round(screening_round, secretariat)
    text_work, photo_work, _video = planted_works
    a = db.session.scalar(sa.select(Assignment).join(Entry).where(Entry.work_id == text_work.id))
    other = db.session.scalar(sa.select(Assignment).join(Entry).where(Entry.work_id == photo_work.id))
    photo_copy = blind.copies_for(db.session.get(Work, photo_work.id))[0]
    text_copy = blind.copies_for(db.session.get(Work, text_work.id))[0]
    owner = db.session.get(Assignment, a.id).expert
    auth.login(owner.username)
    assert status(client, f"/review/{a.id}/files/{text_copy.id}") == 200
    # a copy of another work, through one's own assignment: no
    assert status(client, f"/review/{a.id}/files/{photo_copy.id}") == 404
    if other.expert_id != owner.id:  # another expert's assignment: no
        assert status(client, f"/review/{other.id}/files/{photo_copy.id}") == 404
    assert round_.id


def status(client, url: str) -> int:
    response = client.get(url)
    response.close()  # a file's stream is closed even when the test does not read it
    return response.status_code


# -- A copy that cannot be made ----------------------------------------------------------------


def test_a_file_that_cannot_be_copied_is_failed_for_the_secretariat_and_the_expert_gets_nothing(
    app, submitted_work, unit, screening_round, secretariat, make_expert, client, auth
):
    work = submitted_work(unit, category=WorkCategory.PHOTO)
    photo = work.originals()[0]
    # the stored photo is damaged after its checks (a disk fault, say)
    store = storage.current()
    store.delete(photo.storage_key)
    store.write_bytes(photo.storage_key, b"\xff\xd8\xff\xe0 not a jpeg any more")
    make_expert("ex1")
    round_ = open_round(screening_round, secretariat)
    copy = db.session.scalar(sa.select(BlindCopy).where(BlindCopy.file_id == photo.id))
    assert copy.state is CopyState.FAILED
    assert copy.storage_key is None
    problems = blind.copy_problems(round_)
    assert [(w.id, f.id) for w, f, _c in problems] == [(work.id, photo.id)]
    assert "不是完整的 JPEG" in blind.error_message(copy)
    with app.test_request_context():
        from flask import render_template

        shown = render_template("screening/_review_copies.html", round=round_)
    assert "不是完整的 JPEG" in shown
    assert "失败 1 个" in shown

    a = db.session.scalar(sa.select(Assignment).where(Assignment.round_id == round_.id))
    auth.login("ex1")
    page = client.get(f"/review/{a.id}").get_data(as_text=True)
    assert f"/files/{copy.id}" not in page  # no link to what is not there, and no original
    assert status(client, f"/review/{a.id}/files/{copy.id}") == 404
    assert status(client, f"/review/{a.id}/files/{copy.id}?download=1") == 404
    assert f"/works/files/{photo.id}" not in page


def test_the_secretariat_tries_failed_copies_again(
    app, submitted_work, unit, screening_round, secretariat, make_expert, client, auth
):
    work = submitted_work(unit, category=WorkCategory.PHOTO)
    photo = work.originals()[0]
    store = storage.current()
    good = store.read(photo.storage_key)
    store.delete(photo.storage_key)
    store.write_bytes(photo.storage_key, b"broken")
    make_expert("ex1")
    round_ = open_round(screening_round, secretariat)
    assert db.session.scalar(sa.select(BlindCopy.state).where(BlindCopy.file_id == photo.id)) is CopyState.FAILED
    store.delete(photo.storage_key)
    store.write_bytes(photo.storage_key, good)  # put right
    auth.login(secretariat.username)
    response = client.post(f"/screening/rounds/{round_.id}/copies")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(BlindCopy.state).where(BlindCopy.file_id == photo.id)) is CopyState.READY


def test_asking_twice_makes_no_second_copy_and_no_second_job(
    submitted_work, unit, screening_round, secretariat, make_expert
):
    submitted_work(unit, category=WorkCategory.PHOTO)
    make_expert("ex1")
    round_ = open_round(screening_round, secretariat)
    before = db.session.scalars(sa.select(BlindCopy.id)).all()
    job_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(jobs.Job).where(jobs.Job.kind == blind.COPY_JOB)
    )
    blind.request_copies(round_, now=AFTER)
    db.session.commit()
    assert db.session.scalars(sa.select(BlindCopy.id)).all() == before
    assert len(before) == 2  # the photo and its screen preview
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(jobs.Job).where(jobs.Job.kind == blind.COPY_JOB))
        == job_count
    )


def test_a_video_whose_playable_copy_is_still_being_made_waits_for_it(
    submitted_work, unit, screening_round, secretariat, make_expert
):
    work = submitted_work(unit, category=WorkCategory.VIDEO)
    video = work.originals()[0]
    # a playable copy the works' worker has not made yet
    waiting = WorkFile(
        work_id=work.id, kind=FileKind.PLAYABLE, source_id=video.id, content_type="video/mp4", created_at=NOW
    )
    db.session.add(waiting)
    db.session.commit()
    make_expert("ex1")
    open_round(screening_round, secretariat)
    copy = db.session.scalar(sa.select(BlindCopy).where(BlindCopy.file_id == waiting.id))
    assert copy.state is CopyState.PENDING  # never the original instead
    assert db.session.scalar(sa.select(BlindCopy).where(BlindCopy.file_id == video.id)) is None
    later = db.session.scalars(sa.select(jobs.Job).where(jobs.Job.kind == blind.COPY_JOB)).all()
    assert sorted(j.params.get("waited", 0) for j in later) == [0, 1]  # it looks again later


# -- Each stripping on its own -----------------------------------------------------------------


def test_a_jpeg_keeps_its_coded_picture_its_colour_profile_and_its_orientation():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = planted_jpeg(orientation=6, icc=icc)
    copy = blind.strip_jpeg(original)
    for text, _enc, needle in NEEDLES[:6]:
        assert needle not in copy, text
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(copy)) as b:
        assert a.tobytes() == b.tobytes()  # the same pixels: nothing re-encoded
        assert b.info.get("icc_profile") == icc
        assert dict(b.getexif()) == {0x0112: 6}  # which way is up, and nothing else
        assert b.info.get("jfif") is not None
    # the scan's bytes are the original's, byte for byte
    scan = original.index(b"\xff\xda")
    assert original[scan : original.rindex(b"\xff\xd9")] in copy


def test_a_jpeg_without_orientation_gets_no_exif_at_all():
    copy = blind.strip_jpeg(planted_jpeg())
    assert b"Exif\x00\x00" not in copy
    with Image.open(io.BytesIO(copy)) as image:
        assert dict(image.getexif()) == {}


def test_a_progressive_jpeg_with_data_after_its_end_is_copied_to_its_end():
    original = random_jpeg((320, 240), progressive=True, comment=PLANTED.encode()) + PLANTED.encode()
    copy = blind.strip_jpeg(original)
    assert copy.endswith(b"\xff\xd9")
    assert CREDIT_CODE.encode() not in copy
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(copy)) as b:
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\x10short", b"GIF89a", b"\xff\xd8\xff\xda\x00\x08abcdef"]
)
def test_what_is_not_a_whole_jpeg_is_refused(data):
    with pytest.raises(blind.CopyError) as e:
        blind.strip_jpeg(data)
    assert e.value.code == "not_jpeg"


def test_a_docx_loses_its_properties_and_keeps_every_other_part_byte_for_byte():
    original = planted_docx()
    copy = blind.strip_docx(original)
    before, after = zipfile.ZipFile(io.BytesIO(original)), zipfile.ZipFile(io.BytesIO(copy))
    changed = {"docProps/core.xml", "docProps/app.xml", "_rels/.rels", "[Content_Types].xml"}
    assert set(after.namelist()) == set(before.namelist()) - {"docProps/custom.xml"}
    for name in after.namelist():
        if name not in changed:
            assert after.read(name) == before.read(name), name
    for name in changed:
        for text, _enc, needle in NEEDLES:
            assert needle not in after.read(name), (name, text)
    assert b"custom.xml" not in after.read("_rels/.rels")
    assert b"custom.xml" not in after.read("[Content_Types].xml")
    assert b"docProps/core.xml" in after.read("_rels/.rels")  # the rest of the relationships stay
    document = docx.Document(io.BytesIO(copy))
    assert document.paragraphs[0].text == BODY
    assert document.core_properties.author == ""


def test_a_docx_loses_the_authors_of_its_changes_and_its_templates_path():
    """Tracked changes and comments carry their author's name; the attached template's
    relationship carries a path (C:\\Users\\<someone at the unit>…)."""
    source = zipfile.ZipFile(io.BytesIO(planted_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(
                    b"<w:p>",
                    f'<w:p><w:ins w:id="9" w:author="{UNIT_NAME}" w:initials="KL" w:date="2024-06-01T00:00:00Z">'
                    "<w:r><w:t>新增</w:t></w:r></w:ins>".encode(),
                    1,
                )
            dst.writestr(info, data)
        dst.writestr(
            "word/_rels/settings.xml.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            f'attachedTemplate" Target="file:///C:/Users/{CREDIT_CODE}/模板.dotm" TargetMode="External"/>'
            "</Relationships>",
        )
    copy = zipfile.ZipFile(io.BytesIO(blind.strip_docx(out.getvalue())))
    for name in copy.namelist():
        for text, _enc, needle in NEEDLES:
            assert needle not in copy.read(name), (name, text)
    assert "新增" in copy.read("word/document.xml").decode()  # the text stays


def test_what_is_not_a_docx_is_refused():
    with pytest.raises(blind.CopyError) as e:
        blind.strip_docx(b"PK\x03\x04 not really")
    assert e.value.code == "not_docx"


def test_an_mp4_is_copied_stream_by_stream_without_its_tags(tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(planted_mp4(tmp_path))
    target = tmp_path / "out.mp4"
    blind.strip_mp4(source, target)
    data = target.read_bytes()
    for text, _enc, needle in NEEDLES:
        assert needle not in data, text
    with av.open(str(source)) as a, av.open(str(target)) as b:
        assert [s.type for s in b.streams] == ["video", "audio"]
        assert [s.codec_context.name for s in b.streams] == [s.codec_context.name for s in a.streams]
        packets_a = [bytes(p) for p in a.demux(a.streams.video[0]) if p.size]
        packets_b = [bytes(p) for p in b.demux(b.streams.video[0]) if p.size]
        assert packets_a == packets_b  # the picture's coded bytes, untouched
        assert {"title", "artist", "comment", "copyright"}.isdisjoint(b.metadata)
        for stream in b.streams:
            assert UNIT_NAME not in "".join(stream.metadata.values())


def test_what_is_not_a_video_is_refused(tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42 nothing else")
    with pytest.raises(blind.CopyError) as e:
        blind.strip_mp4(source, tmp_path / "out.mp4")
    assert e.value.code == "not_mp4"
