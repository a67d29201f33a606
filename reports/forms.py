"""Forms of the report pages. Validation lives here (and in reports.questions / photos), so the
web form and Open311 refuse the same things with the same reasons."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reports import conf, geo, questions
from reports.models import Category, Department, Report
from reports.photos import PhotoError, process, read_limited

HONEYPOT = "website"
PLACE_MISSING = gettext_lazy("No place chosen yet: tap the map where the problem is, or use your "
                             "location.")
OUTSIDE_CITY = gettext_lazy("The point is outside the city. Tap a place on the map within the "
                            "city boundary.")
QUESTIONS_NEED_A_LOOK = gettext_lazy("Some answers to the category's questions need a look.")
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp"


def photo_message(error: PhotoError, name: str) -> str:
    messages = {
        "too_large": _("%(name)s: the file is larger than %(mb)s MB."),
        "empty": _("%(name)s: the file is empty."),
        "not_an_image": _("%(name)s: this is not a JPEG, PNG or WebP image."),
        "too_many_pixels": _("%(name)s: the image has too many pixels (at most %(mp)s "
                             "megapixels)."),
        "damaged": _("%(name)s: the image is damaged or incomplete."),
        "bad_box": _("The rectangle must lie within the photo."),
    }
    return messages.get(error.code, str(error)) % {
        "name": name, "mb": conf.get("REPORTS_MAX_PHOTO_BYTES") // (1024 * 1024),
        "mp": f"{conf.get('REPORTS_MAX_PHOTO_PIXELS') / 1e6:g}"}


def process_upload(upload, keep_location: bool):
    """An uploaded file checked and re-encoded; PhotoError when refused."""
    if upload.size is not None and upload.size > conf.get("REPORTS_MAX_PHOTO_BYTES"):
        # Refused on the declared size before a byte is read.
        raise PhotoError("too_large", "too large")
    upload.seek(0)
    data = read_limited(upload, conf.get("REPORTS_MAX_PHOTO_BYTES"))
    return process(data, max_pixels=conf.get("REPORTS_MAX_PHOTO_PIXELS"),
                   max_side=conf.get("REPORTS_PHOTO_MAX_SIDE"), keep_location=keep_location)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": PHOTO_ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def answer_field_name(category: Category, question: dict) -> str:
    return f"q-{category.slug}-{question['name']}"


class ReportForm(forms.Form):
    category = forms.ModelChoiceField(
        label=gettext_lazy("Category"), queryset=Category.objects.filter(active=True),
        to_field_name="slug", empty_label=gettext_lazy("— choose —"))
    # Filled by a tap on the map or the phone's location; typed only by those who open
    # "Enter coordinates instead". Not required one by one: a missing place is one error,
    # which says to tap the map (not "Latitude: this field is required").
    lat = forms.FloatField(label=gettext_lazy("Latitude"), min_value=-90, max_value=90,
                           required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    lon = forms.FloatField(label=gettext_lazy("Longitude"), min_value=-180, max_value=180,
                           required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    title = forms.CharField(
        label=gettext_lazy("Title"), min_length=5, max_length=120,
        help_text=gettext_lazy("In a few words, e.g. “Pothole on Sienkiewicza”."))
    description = forms.CharField(label=gettext_lazy("Description"), min_length=10,
                                  max_length=5000,
                                  widget=forms.Textarea(attrs={"rows": 5}))
    photos = MultipleFileField(label=gettext_lazy("Photos"), required=False)
    keep_photo_location = forms.BooleanField(
        label=gettext_lazy("Keep the location stored in my photos"), required=False,
        help_text=gettext_lazy("Otherwise all metadata (location, camera, time) is removed."))
    email = forms.EmailField(
        label=gettext_lazy("Your email"), max_length=254,
        help_text=gettext_lazy("For updates on your report. Never published."))
    duplicates_seen = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Honeypot: hidden from people (CSS, aria-hidden, tabindex -1); bots fill every field.
    website = forms.CharField(required=False, label=gettext_lazy("Leave this field empty"),
                              widget=forms.TextInput(attrs={"autocomplete": "off",
                                                            "tabindex": "-1"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.duplicates: list[Report] = []
        # (form field name of the question, its label, the message), for the error summary.
        self.question_errors: list[tuple[str, str, str]] = []
        self.fields["category"].label_from_instance = lambda c: c.name

    def clean(self):
        cleaned = super().clean()
        category = cleaned.get("category")
        lat, lon = cleaned.get("lat"), cleaned.get("lon")
        if lat is not None and lon is not None:
            point = geo.point(lon, lat)
            if geo.inside_city(point) is False:
                self.add_error("lat", OUTSIDE_CITY)
            cleaned["geom"] = point
        elif "lat" not in self.errors and "lon" not in self.errors:
            self.add_error("lat", PLACE_MISSING)
        if category is not None:
            self._clean_answers(category, cleaned)
        self._clean_photos(category, cleaned)
        if category is not None and "geom" in cleaned and not self.errors and \
                not cleaned.get("duplicates_seen"):
            # Shown once: the resident may then support one of them or submit anyway.
            self.duplicates = geo.duplicates(category, cleaned["geom"])
            if self.duplicates:
                self.add_error(None, _("Similar reports are open nearby. Is yours one of them? "
                                       "Add a “me too” to it, or submit yours anyway."))
                self.data = self.data.copy()
                self.data["duplicates_seen"] = "on"
        return cleaned

    def _clean_answers(self, category, cleaned):
        raw = {q["name"]: self.data.get(answer_field_name(category, q))
               for q in category.questions}
        answers, errors = questions.clean_answers(category.questions, raw)
        for name, message in errors.items():
            q = next(q for q in category.questions if q["name"] == name)
            self.question_errors.append((answer_field_name(category, q), questions.label(q),
                                         message))
        if errors:
            # Shown next to each question and in the summary (error_summary).
            self.add_error(None, QUESTIONS_NEED_A_LOOK)
        cleaned["answers"] = answers

    def error_summary(self) -> list[dict]:
        """Every problem of a failed send in the order of the page, each with the id of the
        element it is about (None: the form as a whole): the summary at the top of the form."""
        def field(name, target=None, label=None):
            return [{"target": target or f"id_{name}", "label": label or self.fields[name].label,
                     "message": m} for m in self.errors.get(name, [])]

        items = [{"target": "dups-title" if self.duplicates else None, "label": "",
                  "message": m} for m in self.non_field_errors()
                 if m != str(QUESTIONS_NEED_A_LOOK)]
        for name in ("lat", "lon"):
            for item in field(name):
                if item["message"] in (str(PLACE_MISSING), str(OUTSIDE_CITY)):
                    item.update(target="pick-map", label=_("Place"))
                items.append(item)
        items += field("category")
        items += [{"target": f"id_{name}", "label": label, "message": message}
                  for name, label, message in self.question_errors]
        for name in ("title", "description", "photos", "email"):
            items += field(name)
        return items

    def _clean_photos(self, category, cleaned):
        uploads = cleaned.get("photos") or []
        limit = conf.get("REPORTS_MAX_PHOTOS")
        processed = []
        if len(uploads) > limit:
            self.add_error("photos", _("At most %(n)d photos.") % {"n": limit})
        else:
            for upload in uploads:
                try:
                    processed.append(process_upload(upload, cleaned.get("keep_photo_location")))
                except PhotoError as exc:
                    self.add_error("photos", photo_message(exc, upload.name))
        if category is not None and category.photo_required and not uploads:
            self.add_error("photos", _("This category needs a photo."))
        cleaned["processed_photos"] = processed


class SupportForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Your email (optional, for updates)"),
                             required=False)
    website = forms.CharField(required=False)


class FilterForm(forms.Form):
    """Filters of the public list and map; invalid values are reported, not ignored."""

    category = forms.ModelChoiceField(label=gettext_lazy("Category"), required=False,
                                      queryset=Category.objects.all(), to_field_name="slug",
                                      empty_label=gettext_lazy("all"))
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False,
                               choices=[("", gettext_lazy("all")), *Report.Status.choices])
    district = forms.TypedChoiceField(label=gettext_lazy("District"), required=False, coerce=int,
                                      empty_value=None)
    since = forms.DateField(label=gettext_lazy("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("To"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].label_from_instance = lambda c: c.name
        self.district_features = {f.pk: f for f in geo.districts()}
        self.fields["district"].choices = [("", _("all"))] + [
            (pk, f.name) for pk, f in self.district_features.items()]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return cleaned

    def apply(self, qs):
        data = self.cleaned_data
        if data.get("category"):
            qs = qs.filter(category=data["category"])
        if data.get("status"):
            qs = qs.filter(status=data["status"])
        if data.get("district"):
            qs = qs.filter(geom__intersects=self.district_features[data["district"]].geom)
        if data.get("since"):
            qs = qs.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            qs = qs.filter(created_at__date__lte=data["until"])
        return qs


class ModerationEditForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=120)
    description = forms.CharField(label=gettext_lazy("Description"), max_length=5000,
                                  widget=forms.Textarea(attrs={"rows": 5}))


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=Report.Status.choices)
    reason = forms.CharField(label=gettext_lazy("Reason or note (public)"), required=False,
                             max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ReplyForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Reply (public)"), max_length=5000,
                           widget=forms.Textarea(attrs={"rows": 3}))


class AssignForm(forms.Form):
    department = forms.ModelChoiceField(label=gettext_lazy("Department"), required=False,
                                        queryset=Department.objects.all(),
                                        empty_label=gettext_lazy("— none —"))


class HideForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (for moderators)"), required=False,
                             max_length=2000)


class MergeForm(forms.Form):
    into = forms.IntegerField(label=gettext_lazy("Merge into report number"), min_value=1)

    def clean_into(self):
        into = Report.objects.filter(pk=self.cleaned_data["into"]).first()
        if into is None:
            raise forms.ValidationError(_("No such report."))
        return into


class RedactForm(forms.Form):
    photo = forms.IntegerField(widget=forms.HiddenInput)
    x = forms.IntegerField(min_value=0)
    y = forms.IntegerField(min_value=0)
    width = forms.IntegerField(min_value=1)
    height = forms.IntegerField(min_value=1)
