"""Case import: good files land whole, bad files change nothing and say where and why, and
what a good file should still be told (planted terms its case text holds, sex clashes)
comes back as warnings, counted in full and listed up to a cap."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotations.models import AuditEvent, Case
from annotations.services.cases import CaseFileError, case_import

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _jsonl(cases) -> bytes:
    return ("\n".join(json.dumps(c) for c in cases) + "\n").encode()


def _messages(exc: CaseFileError) -> list[str]:
    return [str(e) for e in exc.errors]


def test_good_file_imports_every_case_with_its_fields(study, example_cases_bytes, example_cases):
    result = case_import(study=study, data=example_cases_bytes)

    assert (result.created, result.unchanged) == (3, 0)
    case = Case.objects.get(study=study, external_id="example-ddx-001")
    source = next(c for c in example_cases if c["external_id"] == "example-ddx-001")
    assert case.task == "ddx_reasoning" and case.category == "reactive"
    assert case.turns == source["turns"] and case.tables == source["tables"]
    assert case.question == source["question"] and case.gold_label == "B"
    assert case.label_space == ["A", "B", "C", "D"]
    assert AuditEvent.objects.filter(action="cases.import", object_id=str(study.pk)).count() == 1


def test_reimporting_the_same_file_changes_nothing_and_says_so(study, example_cases_bytes):
    case_import(study=study, data=example_cases_bytes)
    before = list(Case.objects.order_by("id").values_list("id", "content_hash"))

    result = case_import(study=study, data=example_cases_bytes)

    assert (result.created, result.unchanged) == (0, 3)
    assert "Nothing changed" in result.message
    assert list(Case.objects.order_by("id").values_list("id", "content_hash")) == before


def test_same_cases_with_other_key_order_and_spacing_are_the_same_cases(study, example_cases):
    case_import(study=study, data=_jsonl(example_cases))
    reordered = b"\n\n".join(json.dumps(dict(reversed(list(c.items()))), indent=None).encode()
                             for c in example_cases)

    assert case_import(study=study, data=reordered).created == 0


def test_new_cases_in_a_grown_file_are_added_and_old_ones_kept(study, example_cases):
    case_import(study=study, data=_jsonl(example_cases[:2]))
    result = case_import(study=study, data=_jsonl(example_cases))
    assert (result.created, result.unchanged) == (1, 2)


def test_one_bad_line_rolls_back_the_whole_file(study, example_cases):
    bad = dict(example_cases[2], category="sometimes")
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl([example_cases[0], example_cases[1], bad]))

    assert _messages(info.value) == ["line 3, field 'category': 'sometimes' is not one of "
                                     "['reactive', 'balanced', 'proactive']"]
    assert Case.objects.count() == 0
    assert not AuditEvent.objects.exists()


def test_changed_content_under_a_known_id_is_refused_and_nothing_changes(study, example_cases):
    case_import(study=study, data=_jsonl(example_cases[:1]))
    changed = dict(example_cases[0], reference_response="Something else entirely.")
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl([example_cases[1], changed]))

    [message] = _messages(info.value)
    assert message.startswith("line 2, field 'external_id': 'example-omission-001' is already in study 'trial'")
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "file: the file is empty"),
        (b"\n  \n", "file: the file is empty"),
        (b'{"external_id": "x", "task": "caf\xe9"}\n', "line 1: not UTF-8 text"),
        (b'{"external_id": "x",\n', "line 1: not valid JSON"),
        (b"[1, 2]\n", "line 1: expected a JSON object, got list"),
    ],
    ids=["empty", "blank-lines", "not-utf8", "truncated-json", "not-an-object"],
)
def test_unreadable_files_get_a_clear_error(study, data, expected):
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=data)
    assert _messages(info.value)[0].startswith(expected)
    assert Case.objects.count() == 0


def test_a_huge_line_is_refused_by_size(study, example_cases):
    huge = dict(example_cases[0], reference_response="x" * 1_100_000)
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl([example_cases[1], huge]))
    assert _messages(info.value) == ["line 2: line is longer than 1,000,000 bytes"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"turns": "Dr. A said hello"}, "field 'turns': 'Dr. A said hello' is not of type 'array'"),
        ({"turns": [{"speaker": "Dr. A", "role": "attending"}]}, "field 'turns[0].text': is required"),
        ({"turns": [{"speaker": "Dr. A", "role": "attending", "text": 7}]}, "field 'turns[0].text': 7 is not of type 'string'"),
        ({"task": "astrology"}, "field 'task': unknown task 'astrology'"),
        ({"category": "reactive"}, "field 'category': task 'omission_detection' is 'proactive', not 'reactive'"),
        ({"gold_label": "maybe"}, "field 'gold_label': 'maybe' is not in label_space"),
        ({"external_id": ""}, "field 'external_id': '' should be non-empty"),
        ({"surprise": 1}, "Additional properties are not allowed ('surprise' was unexpected)"),
    ],
    ids=["turns-type", "turn-missing-text", "turn-text-type", "unknown-task", "wrong-category",
         "gold-not-in-space", "empty-id", "unknown-field"],
)
def test_each_bad_field_is_named_with_its_line(study, example_cases, change, expected):
    bad = dict(example_cases[0], **change)
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl([example_cases[1], bad]))
    messages = _messages(info.value)
    assert messages[0].startswith("line 2"), messages
    assert expected in messages[0], messages
    assert Case.objects.count() == 0


def test_missing_required_field_is_named(study, example_cases):
    bad = {k: v for k, v in example_cases[0].items() if k != "gold_behavior"}
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl([bad]))
    assert _messages(info.value) == ["line 1, field 'gold_behavior': is required"]


def test_duplicate_external_id_in_one_file_names_both_lines(study, example_cases):
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl([example_cases[0], example_cases[1], example_cases[0]]))
    assert _messages(info.value) == ["line 3, field 'external_id': duplicate external_id "
                                     "'example-omission-001' (first on line 1)"]
    assert Case.objects.count() == 0


def test_every_bad_line_is_reported_not_just_the_first(study, example_cases):
    lines = [dict(example_cases[0], task="nope"), example_cases[1], dict(example_cases[2], gold_label="zzz")]
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl(lines))
    assert [(e.line, e.field) for e in info.value.errors] == [(1, "task"), (3, "gold_label")]


def test_a_study_can_add_its_own_task_type(study, example_cases):
    study.extra_tasks = [{"name": "triage_call", "category": "balanced", "label_space": ["A", "B"],
                          "extractor": "option"}]
    study.save()
    case = dict(example_cases[1], external_id="t-1", task="triage_call", category="balanced",
                label_space=["A", "B"], gold_label="A")
    assert case_import(study=study, data=_jsonl([case])).created == 1


def _warned(example_cases) -> list[dict]:
    """The example cases with two that a good import warns about: planted terms the case
    text holds (line 2), and a male patient with a pregnancy test (line 4)."""
    echo = dict(example_cases[0], external_id="warn-echo",
                planted_problem={"terms": ["enoxaparin", "HIT"], "summary": "heparin-induced thrombocytopenia"})
    clash = dict(example_cases[0], external_id="warn-clash", reference_response="Check a pregnancy test first.")
    return [example_cases[1], echo, example_cases[2], clash]


def test_a_good_file_imports_with_its_warnings_named_by_line(study, example_cases):
    result = case_import(study=study, data=_jsonl(_warned(example_cases)))

    assert result.created == 4 and Case.objects.count() == 4  # warnings stop nothing
    assert result.warnings["by_kind"] == {"echoed_terms": 1, "sex_clash": 1}
    assert (result.warnings["total"], result.warnings["cases"]) == (2, 2)
    assert result.warning_lines == [
        "line 2 (warn-echo): planted term 'enoxaparin' stands in the case's own text (a response that repeats "
        "the case contains it)",
        "line 4 (warn-clash): Mr. Lindqvist is male (called Mr. Lindqvist) but reference_response mentions "
        "'pregnancy'."]
    assert result.message == ("Imported 4 new cases. Warnings: 2 warnings on 2 cases (planted terms that stand in "
                              "the case's own text: 1; sex or pronoun clashes: 1).")
    audit = AuditEvent.objects.get(action="cases.import")
    assert audit.after["warnings"] == result.warnings and "Warnings: 2 warnings" in audit.summary

    again = case_import(study=study, data=_jsonl(_warned(example_cases)))  # the file still says so
    assert again.created == 0 and again.warnings["total"] == 2 and "Warnings:" in again.message


def test_a_file_without_anything_to_warn_about_says_nothing_of_warnings(study, example_cases_bytes):
    result = case_import(study=study, data=example_cases_bytes)
    assert result.warnings == {} and result.warning_lines == [] and "Warning" not in result.message


def test_warnings_of_a_large_file_are_counted_in_full_and_listed_up_to_a_cap(study, example_cases):
    from modeling.case_checks import WARNING_EXAMPLES

    clash = dict(example_cases[0], reference_response="Check a pregnancy test first.")
    result = case_import(study=study, data=_jsonl([dict(clash, external_id=f"w-{i}") for i in range(60)]))
    assert result.warnings["total"] == 60 and len(result.warning_lines) == WARNING_EXAMPLES == 20
    assert result.warning_lines[-1].startswith("line 20 (w-19): ")
    assert "60 warnings on 60 cases (sex or pronoun clashes: 60); the first 20 are listed." in result.message


def test_a_refused_file_reports_its_problems_not_its_warnings(study, example_cases):
    lines = [*_warned(example_cases), dict(example_cases[1], external_id="bad", task="nope")]
    with pytest.raises(CaseFileError) as info:
        case_import(study=study, data=_jsonl(lines))
    assert [(e.line, e.field) for e in info.value.errors] == [(5, "task")] and "warn" not in str(info.value)


class TestImportCommand:
    def test_command_imports_and_reports(self, study, tmp_path, example_cases_bytes):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(example_cases_bytes)
        out = io.StringIO()
        call_command("import_cases", str(path), "--study", "trial", stdout=out)
        assert "Imported 3 new cases" in out.getvalue()
        call_command("import_cases", str(path), "--study", "trial", stdout=out)
        assert "Nothing changed: all 3 cases were already imported" in out.getvalue()

    def test_command_prints_the_warnings(self, study, tmp_path, example_cases):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(_jsonl(_warned(example_cases)))
        out = io.StringIO()
        call_command("import_cases", str(path), "--study", "trial", stdout=out)
        assert "Imported 4 new cases. Warnings: 2 warnings on 2 cases" in out.getvalue()
        assert "warning: line 2 (warn-echo): planted term 'enoxaparin'" in out.getvalue()
        assert "warning: line 4 (warn-clash): Mr. Lindqvist is male" in out.getvalue()

    def test_command_names_the_bad_line_and_imports_nothing(self, study, tmp_path, example_cases):
        path = tmp_path / "cases.jsonl"
        path.write_bytes(_jsonl([example_cases[0], dict(example_cases[1], label_space="AB")]))
        with pytest.raises(CommandError) as info:
            call_command("import_cases", str(path), "--study", "trial")
        assert "Nothing was imported" in str(info.value)
        assert "line 2, field 'label_space'" in str(info.value)
        assert Case.objects.count() == 0

    def test_unknown_study_and_missing_file_are_clear(self, study, tmp_path):
        with pytest.raises(CommandError, match="No study with slug 'nope'"):
            call_command("import_cases", str(tmp_path / "x.jsonl"), "--study", "nope")
        with pytest.raises(CommandError, match="No such file"):
            call_command("import_cases", str(tmp_path / "x.jsonl"), "--study", "trial")


class TestAdminUpload:
    url = "/admin/annotations/case/import/"

    def test_admin_uploads_a_file(self, admin_client_, study, example_cases_bytes):
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = admin_client_.post(self.url, {"study": study.pk, "file": SimpleUploadedFile(
            "cases.jsonl", example_cases_bytes)}, follow=True)
        assert response.status_code == 200
        assert "Imported 3 new cases." in response.content.decode()
        assert Case.objects.filter(study=study).count() == 3

    def test_admin_is_shown_the_warnings_of_a_good_upload(self, admin_client_, study, example_cases):
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = admin_client_.post(self.url, {"study": study.pk, "file": SimpleUploadedFile(
            "cases.jsonl", _jsonl(_warned(example_cases)))}, follow=True)
        html = response.content.decode()
        assert response.status_code == 200 and Case.objects.filter(study=study).count() == 4
        assert "Imported 4 new cases. Warnings: 2 warnings on 2 cases" in html
        assert "Warning: line 2 (warn-echo): planted term &#x27;enoxaparin&#x27;" in html
        assert "Warning: line 4 (warn-clash): Mr. Lindqvist is male" in html

    def test_bad_upload_lists_every_problem_and_imports_nothing(self, admin_client_, study, example_cases):
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = _jsonl([example_cases[0], dict(example_cases[1], task="nope")])
        response = admin_client_.post(self.url, {"study": study.pk, "file": SimpleUploadedFile("c.jsonl", data)})
        html = response.content.decode()
        assert response.status_code == 200
        assert "The file was not imported" in html and "line 2, field &#x27;task&#x27;" in html
        assert Case.objects.count() == 0

    def test_thousands_of_bad_lines_give_a_short_page_with_the_count(self, admin_client_, study):
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = admin_client_.post(self.url, {"study": study.pk, "file": SimpleUploadedFile(
            "c.jsonl", b"{}\n" * 10_000)})
        html = response.content.decode()
        assert response.status_code == 200 and len(html) < 200_000
        assert "The file was not imported: 70000 problems; the first 200 are listed." in html  # 7 a line
        assert html.count("<li>line ") == 200 and Case.objects.count() == 0

    @pytest.mark.parametrize(("change", "message"), [
        ({"metadata": {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}},
         "nested more than"),
        ({"reference_response": "a \x00 NUL"}, "NUL character"),
    ])
    def test_what_the_database_cannot_store_is_refused_and_the_admin_pages_stay_up(
            self, admin_client_, study, example_cases, change, message):
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = _jsonl([dict(example_cases[0], **change)])
        response = admin_client_.post(self.url, {"study": study.pk, "file": SimpleUploadedFile("c.jsonl", data)})
        assert response.status_code == 200 and message in response.content.decode()
        assert Case.objects.count() == 0
        assert admin_client_.get("/admin/annotations/case/").status_code == 200

    def test_upload_page_is_refused_to_researchers_and_clinicians(self, researcher_client, clinician_client):
        for client in (researcher_client, clinician_client):
            response = client.get(self.url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"]
