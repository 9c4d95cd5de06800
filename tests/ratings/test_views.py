import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from PIL import Image

from experience.accounts.models import Role
from experience.extensions import db
from experience.ratings.models import Rating
from experience.ratings.services import dimensions
from tests.core.test_images import _bomb, _png_named_jpg, jpeg_with_exif


def form(event, n=5, **extra):
    data = {f"d{d.id}": str(n) for d in dimensions(event.campaign_id)}
    data.update(extra)
    return data


def uploads(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_DIR"])
    return sorted(folder.glob("*")) if folder.exists() else []


def test_guest_rates_with_comment_and_photo_then_changes_it(app, client, setup):
    _, event, guest = setup
    page = client.get(f"/c/{guest.code}/rate").get_data(as_text=True)
    assert "服务感知体验" in page and 'type="radio"' in page
    r = client.post(
        f"/c/{guest.code}/rate",
        data=form(
            event,
            comment="体验很好，点赞👍",
            display="name",
            photo_consent="y",
            photo=(io.BytesIO(jpeg_with_exif()), "现场.jpg"),
        ),
        content_type="multipart/form-data",
    )
    assert r.status_code == 200 and "感谢" in r.get_data(as_text=True)
    rating = db.session.scalar(sa.select(Rating))
    assert rating.comment == "体验很好，点赞👍" and rating.photo_key and rating.photo_web_key
    stored = Image.open(io.BytesIO(Path(app.config["UPLOAD_DIR"], rating.photo_key).read_bytes()))
    assert stored.size == (200, 400) and not stored.getexif()
    client.post(
        f"/c/{guest.code}/rate",
        data=form(event, 2, comment="再想想，一般", remove_photo="y"),
        content_type="multipart/form-data",
    )
    rating = db.session.scalar(sa.select(Rating))
    assert {s.stars for s in rating.scores} == {2} and rating.photo_key is None
    assert uploads(app) == []  # the replaced photo's files are gone


@pytest.mark.parametrize(
    "photo, name",
    [
        (_bomb(), "bomb.png"),
        (_png_named_jpg(), "photo.jpg"),
        (jpeg_with_exif()[:2000], "cut.jpg"),
        (b"<html><script>alert(1)</script></html>", "page.jpg"),
    ],
)
def test_bad_photos_get_a_clear_answer_and_leave_nothing(app, client, setup, photo, name):
    _, event, guest = setup
    r = client.post(
        f"/c/{guest.code}/rate",
        data=form(event, photo_consent="y", photo=(io.BytesIO(photo), name)),
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and 'class="flash error"' in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0
    assert uploads(app) == []


@pytest.mark.parametrize(
    "data",
    [
        {"d_missing": True},
        {"stars": "9"},
        {"stars": "0"},
        {"stars": "abc"},
        {"comment": "好" * 501},
        {"photo_no_consent": True},
    ],
)
def test_bad_input_is_explained_and_nothing_saved(app, client, setup, data):
    _, event, guest = setup
    body = form(event, int(data["stars"]) if data.get("stars", "").isdigit() else 5, comment=data.get("comment", ""))
    if data.get("stars") == "abc":
        body[next(iter(body))] = "abc"
    if "d_missing" in data:
        body.pop(next(iter(body)))
    if "photo_no_consent" in data:
        body["photo"] = (io.BytesIO(jpeg_with_exif()), "a.jpg")
    r = client.post(f"/c/{guest.code}/rate", data=body, content_type="multipart/form-data")
    assert r.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0 and uploads(app) == []


def test_not_checked_in_and_closed_windows(app, client, setup, make_guest):
    _, event, guest = setup
    stranger = make_guest(event)
    assert client.post(f"/c/{stranger.code}/rate", data=form(event)).status_code == 409
    app.config["FROZEN_NOW"] = event.ends_at + timedelta(hours=49)
    r = client.post(f"/c/{guest.code}/rate", data=form(event))
    assert r.status_code == 409 and db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0
    assert client.get("/c/" + "Z" * 22 + "/rate").status_code == 404


def test_comments_are_text_everywhere(app, client, auth, setup):
    _, event, guest = setup
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)> javascript:alert(3)'
    client.post(f"/c/{guest.code}/rate", data=form(event, comment=evil, display="name"))
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}/ratings").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<img src=x" not in page
    assert "javascript:alert(3)" in page and 'href="javascript' not in page


def test_organiser_live_view_approval_and_export(app, client, auth, setup, make_guest):
    staff, event, guest = setup
    client.post(f"/c/{guest.code}/rate", data=form(event, 4, comment="很专业", display="category"))
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}/ratings").get_data(as_text=True)
    assert "100%" in page and "4.00" in page and "<svg" in page and "很专业" in page
    rating = db.session.scalar(sa.select(Rating))
    client.post(f"/ratings/{rating.id}/approval", data={"what": "comment", "approved": "1"})
    fragment = client.get(f"/events/{event.id}/ratings?fragment=1").get_data(as_text=True)
    candidates = fragment.split('class="candidates"')[1].split("</ul>")[0]
    assert f'id="candidate-{rating.id}"' in candidates and "消费者" in candidates and "王记者" not in candidates
    client.post(f"/ratings/{rating.id}/approval", data={"what": "comment", "approved": "0"})
    assert f'id="candidate-{rating.id}"' not in client.get(f"/events/{event.id}/ratings?fragment=1").get_data(
        as_text=True
    )
    with client.get(f"/events/{event.id}/ratings.xlsx") as r:
        rows = list(load_workbook(io.BytesIO(r.data)).active.values)
    assert rows[1][0] == "王记者" and rows[1][2] == "138****2222" and rows[1][3] == 4
    assert client.post(f"/ratings/{rating.id}/approval", data={"what": "nonsense"}).status_code == 400


def test_undo_is_refused_once_the_guest_rated(app, client, auth, setup, make_guest):
    staff, event, _ = setup
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=5)
    g = make_guest(event, name="桌前嘉宾")
    auth.login("bjstaff")
    client.post(f"/events/{event.id}/desk/guests/{g.id}/checkin")
    client.post(f"/c/{g.code}/rate", data=form(event))
    page = client.post(f"/events/{event.id}/desk/guests/{g.id}/undo", follow_redirects=True).get_data(as_text=True)
    assert "已评价" in page or "评价" in page
    assert db.session.get(type(g), g.id).checked_in_at is not None


def test_hq_edits_the_questions(client, auth, make_user, campaign):
    make_user(Role.HQ, username="hqboss")
    auth.login("hqboss")
    dims = dimensions(campaign.id)
    data = (
        {f"name-{d.id}": d.name for d in dims}
        | {f"hint-{d.id}": d.hint for d in dims}
        | {f"position-{d.id}": str(d.position + 1) for d in dims}
    )
    data |= {
        f"name-{dims[0].id}": "服务体验",
        f"retired-{dims[1].id}": "y",
        "new_name": "环境与安全",
        f"position-{dims[4].id}": "1",
    }
    page = client.get("/campaign/dimensions").get_data(as_text=True)
    assert f'name="position-{dims[0].id}" type="number" value="1"' in page  # orders count from 1
    assert client.post("/campaign/dimensions", data=data).status_code == 302
    names = [d.name for d in dimensions(campaign.id)]
    assert "获得感" not in names and "服务体验" in names and names[-1] == "环境与安全"
    assert names.index(dims[4].name) < names.index(dims[2].name)  # moved up to 1st place
    assert len(dimensions(campaign.id, include_retired=True)) == 6


def test_a_question_emptied_in_the_editor_is_refused_at_its_row(client, auth, make_user, campaign):
    make_user(Role.HQ, username="hqboss")
    auth.login("hqboss")
    dims = dimensions(campaign.id)
    page = client.post("/campaign/dimensions", data={f"name-{dims[1].id}": "  ", "new_name": "环境与安全"})
    assert page.status_code == 200
    row = page.get_data(as_text=True).split(f'name="name-{dims[1].id}"')[1].split("</td>")[0]
    assert "评价问题名称不能为空。" in row
    assert [d.name for d in dimensions(campaign.id)] == [d.name for d in dims]


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", "4.5", "٣"])
def test_odd_star_values_are_refused_not_500(client, setup, value):
    _, event, guest = setup
    body = form(event)
    body[next(iter(body))] = value
    assert client.post(f"/c/{guest.code}/rate", data=body).status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


def test_before_check_in_the_rating_page_says_why_and_leads_back_to_check_in(app, client, setup, make_guest):
    _, event, _ = setup
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=5)
    guest = make_guest(event, name="未签到嘉宾")
    r = client.get(f"/c/{guest.code}/rate")
    page = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "仅已签到的嘉宾可以评价本次活动。" in page
    assert f'<a class="button huge" href="/c/{guest.code}">去签到</a>' in page
    assert 'name="d' not in page  # no questions to answer yet
