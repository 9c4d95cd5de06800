"""The console's forms: a screen's name, and its scenes with their seconds.

Whether a name is free or a duration allowed is the rules' decision (screens.py): the
forms carry the values and put a refusal next to the field it concerns."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField

from experience.core.errors import RuleError
from experience.core.web import small_int
from experience.displays.models import SECONDS_MAX, SECONDS_MIN, Scene
from experience.events.forms import strip_text


class ScreenNameForm(FlaskForm):
    """A new screen, or a screen's new name ("主屏", "签到处")."""

    name = StringField(
        _l("Screen name"),
        filters=[strip_text],
        description=_l("Where it stands, so you know which is which, e.g. 主屏 or 签到处."),
        render_kw={"maxlength": 40, "autocomplete": "off"},
    )

    def show_refusal(self, error: RuleError) -> None:
        self.name.errors = [*self.name.errors, str(error)]


class ScenesForm(FlaskForm):
    """Each scene on or off, with how long it stays up. Built with :func:`scenes_form`.

    Seconds are read as text: a value that is not a whole number reaches the rule as
    missing and gets its message (between SECONDS_MIN and SECONDS_MAX), the same as one
    out of range."""

    def rows(self):
        """(scene, on field, seconds field) in the order screens show them."""
        return [(scene, self[f"on-{scene.value}"], self[f"seconds-{scene.value}"]) for scene in Scene]

    def scenes(self) -> dict[str, dict]:
        return {scene.value: {"on": on.data, "seconds": small_int(seconds.data)} for scene, on, seconds in self.rows()}

    def show_refusal(self, error: RuleError) -> None:
        # bad_scenes names no scene: it goes on every duration out of range, or the first
        for _scene, _on, seconds in self.rows():
            value = small_int(seconds.data)
            if value is None or not SECONDS_MIN <= value <= SECONDS_MAX:
                seconds.errors = [*seconds.errors, str(error)]
                return
        first = self.rows()[0][1]
        first.errors = [*first.errors, str(error)]


def scenes_form(current: dict[str, dict], **kw) -> ScenesForm:
    """The scenes form with a pair of fields per scene, filled from ``current``."""

    class Form(ScenesForm):
        pass

    for scene in Scene:
        conf = current.get(scene.value) or {}
        setattr(Form, f"on-{scene.value}", BooleanField(scene.label, default=bool(conf.get("on"))))
        setattr(
            Form,
            f"seconds-{scene.value}",
            StringField(
                _l("Seconds"),
                default=str(conf.get("seconds", "")),
                filters=[strip_text],
                render_kw={"inputmode": "numeric", "size": 4, "maxlength": 4},
            ),
        )
    return Form(**kw)
