import csv
import io
import json
from urllib.parse import urlparse

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_email
from django.forms.fields import InvalidJSONInput
from django.forms.utils import pretty_name

from annotations.ids import strict_id
from annotations.json_fields import StorableJSONField
from annotations.models import Study, bounds
from annotations.models.arm import TRAINING_METHODS
from annotations.models.case import Category
from annotations.models.jobs import MAX_LISTED_CASES, listed_cases_check
from annotations.models.judge import JudgeJob
from annotations.param_fields import param_form_field, param_form_fields, param_form_values
from annotations.rubric import default_rubric, validate_rubric
from annotations.selectors.arms import all_arms, study_arm_ids, study_arms_in_order
from annotations.selectors.setup import rubric_fixed_reason
from annotations.selectors.studies import all_studies, study_cases_by_external_id, study_tasks
from modeling.params import DecodingParams, GenerationParams, JudgeParams, TrainParams, param_spec

BASE_MODEL_HELP = '"demo", a Hugging Face directory or a .gguf file on the GPU workers.'
JUDGE_MODEL_HELP = ('Local: "demo", a Hugging Face directory or a .gguf file (default demo). '
                    "Endpoint: the model name (default: JUDGE_OPENAI_MODEL, as the worker that runs the job has it).")


class IdChoiceField(forms.ModelChoiceField):
    """An object chosen by its id, read strictly (``annotations.ids``): a value that is no
    id is an invalid choice before any query, so a number past 64 bits is not a 500."""

    def to_python(self, value):
        if value not in self.empty_values and strict_id(str(value)) is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Objects chosen by their ids, each read as :class:`IdChoiceField` reads one."""

    def clean(self, value):
        for item in value if isinstance(value, list | tuple) else ():
            if strict_id(str(item)) is None:
                raise ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                      params={"pk": str(item)[:20]})
        return super().clean(value)


def errors_text(form: forms.Form) -> str:
    """A form's errors as one line for a message, each field's under its label (errors of
    the whole form under none)."""
    def named(field: str) -> str:
        if field == NON_FIELD_ERRORS or field not in form.fields:
            return ""
        return f"{form.fields[field].label or pretty_name(field)}: "
    return "; ".join(f"{named(field)}{' '.join(messages)}" for field, messages in form.errors.items())


class CaseImportForm(forms.Form):
    study = IdChoiceField(queryset=all_studies())
    file = forms.FileField(help_text="JSON Lines, UTF-8, one case per line (see docs/case-format.md).")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.CASE_IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {settings.CASE_IMPORT_MAX_BYTES:,}.")
        return upload


class ResponseFilterForm(forms.Form):
    """The responses page's filters (GET): which cases, and what their responses say."""

    task = forms.ChoiceField(required=False)
    category = forms.ChoiceField(required=False, choices=[("", "any category"), *Category.choices])
    arm = IdChoiceField(queryset=None, required=False, empty_label="every arm")
    behavior = forms.ChoiceField(required=False, label="Predicted behavior",
                                 choices=[("", "any behavior"), ("none", "no behavior token"), *Category.choices])
    correct = forms.ChoiceField(required=False, label="Scored", choices=[
        ("", "correct or not"), ("yes", "correct"), ("no", "wrong")])
    q = forms.CharField(required=False, max_length=200, label="Text contains")

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task"].choices = [("", "any task"), *((t, t) for t in study_tasks(study))]
        self.fields["arm"].queryset = study_arms_in_order(study)


class RatingSampleForm(forms.Form):
    size = forms.IntegerField(**bounds.RATING_SAMPLE_SIZE.limits, initial=300, label="Cases to rate",
                              help_text="Drawn from the test cases, stratified by task, category and gold label "
                                        "(seeded by the study's seed).")


class GenerationJobForm(forms.Form):
    """What a generation job is asked (the API's ``QueueGenerationSerializer`` offers the
    same): the arm, which cases, and its decoding (modeling.params.GenerationParams)."""

    arm = IdChoiceField(queryset=None)
    cases = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                            validators=[listed_cases_check], label="Cases",
                            help_text="external_id of each case, separated by spaces or lines; empty: every test "
                                      "case of the study.")
    only_missing = forms.BooleanField(required=False, initial=True,
                                      help_text="Leave out the cases the arm has already answered.")

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.fields["arm"].queryset = study_arms_in_order(study)
        # Left blank, a decoding setting is the arm's own, else modeling.params's.
        self.fields.update(param_form_fields(DecodingParams, inherited=True))
        self.fields["seed"] = param_form_field(param_spec(GenerationParams, "seed"))

    def clean_cases(self):
        """The listed cases, or None for every test case."""
        ids = self.cleaned_data["cases"].split()
        if not ids:
            return None
        found = study_cases_by_external_id(self.study, ids)
        unknown = set(ids) - set(found)
        if unknown:
            raise forms.ValidationError(f"Unknown case ids: {', '.join(sorted(unknown))}")
        return list(found.values())

    def decoding_params(self) -> dict:
        return param_form_values(self.cleaned_data, DecodingParams)


class TrainingJobForm(forms.Form):
    """What a training job is asked (the API's ``QueueTrainingSerializer`` offers the same):
    the method, the base model and its hyperparameters (modeling.params.TrainParams)."""

    method = forms.ChoiceField(choices=TRAINING_METHODS)
    base_model = forms.CharField(initial="demo", max_length=500, help_text=BASE_MODEL_HELP)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(param_form_fields(TrainParams))

    def hyperparameters(self) -> dict:
        return param_form_values(self.cleaned_data, TrainParams)


class JudgeJobForm(forms.Form):
    """What a judge job is asked (the API's ``QueueJudgeSerializer`` offers the same): the
    judge, which arms' responses (optionally only listed ones), what it scores and how it
    is asked (modeling.params.JudgeParams)."""

    kind = forms.ChoiceField(choices=JudgeJob.Kind.choices, initial=JudgeJob.Kind.LOCAL)
    model_ref = forms.CharField(max_length=500, required=False, label="Model", help_text=JUDGE_MODEL_HELP)
    adapter_path = forms.CharField(max_length=500, required=False, help_text="Local only: a LoRA adapter directory.")
    base_url = forms.CharField(max_length=500, required=False, label="Base URL",
                               help_text="Endpoint only, e.g. http://gpu-node:8000/v1 (default: "
                                         "JUDGE_OPENAI_BASE_URL, as the worker has it). The API key comes from the "
                                         "worker's settings.")
    arms = IdMultipleChoiceField(queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
                                 help_text="Whose responses: the newest of each ticked arm to each test case. None "
                                           "ticked: every arm of the study.")
    responses = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Response ids",
                                help_text="Only these responses (ids from the Responses page), separated by spaces, "
                                          "commas or lines; empty: every response of the arms.")
    dimensions = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False)
    pairwise = forms.BooleanField(required=False, help_text="Also compare each case's responses pairwise, in both "
                                                            "orders (position-swap consistency).")
    planted = forms.BooleanField(
        required=False, label="Read whether each response names its case's planted problem",
        help_text="For the responses to cases with a planted problem: the judge answers Yes or No. With no "
                  "dimension ticked, the job asks only this. The dashboard can then score the automatic metrics "
                  "with this reading.")

    def __init__(self, *args, study, **kwargs):
        from modeling.judge import DEFAULT_DIMENSIONS

        super().__init__(*args, **kwargs)
        self.fields["arms"].queryset = study_arms_in_order(study)
        choices = [(d.key, f"{d.label} ({d.out_min:g}-{d.out_max:g})") for d in DEFAULT_DIMENSIONS]
        self.fields["dimensions"].choices = choices
        self.fields["dimensions"].initial = [d.key for d in DEFAULT_DIMENSIONS]
        self.fields.update(param_form_fields(JudgeParams))
        self.fields["pairwise_dimensions"].choices = choices

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("dimensions") and not cleaned.get("planted"):
            raise forms.ValidationError("Tick at least one dimension, or the planted-problem reading.")
        return cleaned

    def clean_arms(self):
        """The ticked arms, or None for every arm."""
        return list(self.cleaned_data["arms"]) or None

    def clean_responses(self):
        """The listed response ids, or None for every response of the arms."""
        words = self.cleaned_data["responses"].replace(",", " ").split()
        ids = [strict_id(w) for w in words]
        wrong = [w for w, i in zip(words, ids) if i is None]
        if wrong:
            raise forms.ValidationError(f"Not response ids: {', '.join(w[:20] for w in wrong[:10])}")
        if len(ids) > MAX_LISTED_CASES:
            raise forms.ValidationError(f"List at most {MAX_LISTED_CASES:,} responses.")
        return ids or None

    def clean_base_url(self):
        url = self.cleaned_data["base_url"].strip()
        if url and urlparse(url).scheme not in ("http", "https"):
            raise forms.ValidationError("Give an http(s) URL.")
        return url

    def params(self) -> dict:
        return param_form_values(self.cleaned_data, JudgeParams)


class InvitationForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField()

    def people(self) -> list[tuple[str, str]]:
        return [(self.cleaned_data["name"].strip(), self.cleaned_data["email"].strip())]


MAX_INVITATION_CSV_BYTES = 1024 * 1024
# Far above any name or address: a longer field is a broken file (an unclosed quote, say).
MAX_CSV_FIELD_CHARS = 1000


def csv_records(text: str) -> list[tuple[int, list[str]]]:
    """Each record of a CSV text with the line it ends on. A field longer than
    MAX_CSV_FIELD_CHARS, or text that is not CSV (a stray or unclosed quote), is a
    ValidationError naming the line, and the limit for a field."""
    too_long = f"a field is longer than {MAX_CSV_FIELD_CHARS:,} characters, the most a field may hold"
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    records = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return records
        except csv.Error as exc:
            # The csv module's own field limit (far above ours) is reached before the row ends.
            reason = too_long if "field limit" in str(exc) else f"not valid CSV ({exc})"
            raise ValidationError(f"line {reader.line_num}: {reason}.") from None
        if any(len(cell) > MAX_CSV_FIELD_CHARS for cell in row):
            raise ValidationError(f"line {reader.line_num}: {too_long}.")
        records.append((reader.line_num, row))


class InvitationCSVForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Two columns, name and email, one person a line "
                                                       "(a first line name,email is skipped). UTF-8.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_INVITATION_CSV_BYTES:
            raise ValidationError(f"The file is {upload.size:,} bytes; the limit is {MAX_INVITATION_CSV_BYTES:,}.")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text.") from None
        people, problems, seen = [], [], set()
        for index, (number, row) in enumerate(csv_records(text)):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if index == 0 and [c.lower() for c in cells] == ["name", "email"]:
                continue
            if len(cells) != 2:
                problems.append(f"line {number}: expected 2 columns (name, email), found {len(cells)}")
                continue
            name, email = cells
            if not name or len(name) > 200 or "\x00" in name:
                problems.append(f"line {number}: the name must be 1 to 200 characters")
            try:
                validate_email(email)
            except ValidationError:
                problems.append(f"line {number}: {email!r} is not an email address")
                continue
            if email.lower() in seen:
                problems.append(f"line {number}: {email} appears twice (addresses are compared in any case)")
            seen.add(email.lower())
            people.append((name, email))
        if problems:
            raise ValidationError(problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else []))
        if not people:
            raise ValidationError("The file names nobody.")
        return people

    def people(self) -> list[tuple[str, str]]:
        return self.cleaned_data["file"]


class RubricField(StorableJSONField):
    """A rubric as JSON text (read as the admin's JSON fields are), checked by
    ``validate_rubric``. Shown indented; a refused form shows the text back as typed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def bound_data(self, data, initial):
        if self.disabled or data is None:
            return initial
        return InvalidJSONInput(data)

    def validate(self, value):
        super().validate(value)
        if value is not None:
            problems = validate_rubric(value)
            if problems:
                raise ValidationError(problems)


RUBRIC_HELP = ("The questions raters answer about each response, as JSON: a list of dimensions (likert, "
               "categorical or flag; see docs/rating-protocol.md). Preview shows them as raters will see them.")


class RubricPreviewForm(forms.Form):
    rubric = RubricField()


class StudyForm(forms.ModelForm):
    """A study's own settings, as the research team sets them on the portal's pages: the
    rubric too, until raters have answered with it (its task types stay in the admin)."""

    arms = IdMultipleChoiceField(queryset=all_arms(), required=False,
                                          widget=forms.CheckboxSelectMultiple,
                                          help_text="The arms compared; fixed once the study is open.")
    rubric = RubricField(required=False, help_text=RUBRIC_HELP + " Left empty, it stays as it is.")

    class Meta:
        model = Study
        fields = ["name", "slug", "instructions", "consent_text", "raters_per_item", "arms_per_screen", "seed",
                  "assignment_timeout_minutes", "gold_rate"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 6}), "consent_text": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rubric"].initial = self.instance.rubric if self.instance.pk else default_rubric()
        if self.instance.pk:
            self.fields["arms"].initial = study_arm_ids(self.instance)
            if self.instance.status != Study.Status.DRAFT:
                self.fields["arms"].disabled = True
                self.fields["arms_per_screen"].disabled = True
            fixed = rubric_fixed_reason(self.instance)
            if fixed:
                self.fields["rubric"].disabled = True
                self.fields["rubric"].help_text = fixed

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if slug == "new":  # the address of this very page
            raise ValidationError("Choose another slug.")
        return slug

