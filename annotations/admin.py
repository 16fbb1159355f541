from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import JSONField
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from annotations.errors import DomainError, QueueUnavailable
from annotations.forms import CaseImportForm
from annotations.json_fields import StorableJSONField
from annotations.models import (
    Assignment,
    AuditEvent,
    Case,
    GenerationFailure,
    GenerationJob,
    HarmDecision,
    Invitation,
    JudgeJob,
    ModelArm,
    PracticeAttempt,
    Preference,
    Rating,
    Response,
    Study,
    StudyAnalysis,
    StudyArm,
    StudyRater,
    Submission,
    TrainingJob,
)
from annotations.selectors.arms import study_arms_in_order
from annotations.selectors.setup import rubric_fixed_reason
from annotations.selectors.studies import cases_by_study, studies_with_case_count
from annotations.services.arms import arms_per_screen_check, study_arms_check
from annotations.services.cases import CaseFileError, case_import
from annotations.services.generation import generation_job_queue
from annotations.services.imports import import_job_queue
from annotations.services.jobs import job_cancel, job_retry

# A file of thousands of bad lines would otherwise make a page of megabytes.
SHOWN_IMPORT_ERRORS = 200
# The JSON typed into the admin's forms is read by the rules every JSON input follows.
JSON_TEXT_FIELDS = {JSONField: {"form_class": StorableJSONField}}


class StudyArmFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        try:
            if self.has_changed():
                study_arms_check(study=self.instance, count=len(kept))
            elif self.instance.status == Study.Status.DRAFT:  # its responses per screen may have changed
                arms_per_screen_check(study=self.instance, count=len(kept), was=self.instance.arms_per_screen)
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from None


class StudyArmInline(admin.TabularInline):
    """A study's arms, editable while it is a draft (the rule of ``study_arms_check``,
    which the formset asks as well: the study may have been opened meanwhile)."""

    model = StudyArm
    formset = StudyArmFormSet
    extra = 0
    autocomplete_fields = ["arm"]

    @staticmethod
    def _editable(obj) -> bool:
        return obj is None or obj.status == Study.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_TEXT_FIELDS
    list_display = ["name", "slug", "status", "raters_per_item", "arms_per_screen", "case_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [StudyArmInline]

    # Opening and closing go through the study page (study_set_status), which checks the
    # move, asks a closing reason and records it; a new study starts as a draft, its arms
    # still open to change.
    readonly_fields = ("status", "status_changed_at", "closed_reason")

    def get_readonly_fields(self, request, obj=None):
        # Cases are planned in blocks of its responses per screen once the study is open.
        fixed = ("arms_per_screen",) if obj is not None and obj.status != Study.Status.DRAFT else ()
        # Questions changed under collected answers would mix two instruments in one study.
        if rubric_fixed_reason(obj):
            fixed = (*fixed, "rubric")
        return (*super().get_readonly_fields(request, obj), *fixed)

    def get_queryset(self, request):
        return studies_with_case_count()

    @admin.display(description="cases", ordering="n_cases")
    def case_count(self, obj):
        return obj.n_cases


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_TEXT_FIELDS
    list_display = ["external_id", "study", "task", "category", "split", "gold_behavior", "gold_label", "specialty"]
    list_filter = ["study", "category", "task", "split", "gold_behavior"]
    search_fields = ["external_id", "specialty", "question", "reference_response"]
    # Practice and gold markings go through the study's expected-answers page, which checks them.
    readonly_fields = ["content_hash", "created_at", "role", "expected"]
    list_select_related = ["study"]
    change_list_template = "admin/annotations/case/change_list.html"
    actions = ["queue_generation_every_arm"]

    @admin.action(description="Generate responses for the selected cases with every arm of their study")
    def queue_generation_every_arm(self, request, queryset):
        try:
            for study, cases in cases_by_study(queryset).items():
                for arm in study_arms_in_order(study):
                    job = generation_job_queue(study=study, arm=arm, cases=cases, actor=request.user)
                    self.message_user(request, f"Queued generation job #{job.pk}: {arm.name}, "
                                               f"{len(cases)} cases.", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="annotations_case_import"),
                *super().get_urls()]

    def _import_in_background(self, request, study, upload):
        try:
            job = import_job_queue(study=study, upload=upload, actor=request.user)
        except QueueUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect(reverse("admin:annotations_case_import"))
        self.message_user(request, f"{upload.name} ({upload.size / 1e6:,.1f} MB) is being imported by job #{job.pk}: "
                                   "its progress, and its result or problems, are on the study's jobs page.",
                          messages.SUCCESS)
        return redirect(reverse("job-list", args=[study.slug]))

    def import_view(self, request):
        form = CaseImportForm(request.POST or None, request.FILES or None)
        errors: list[str] = []
        error_total = 0
        if request.method == "POST" and form.is_valid():
            upload, study = form.cleaned_data["file"], form.cleaned_data["study"]
            if upload.size > settings.CASE_IMPORT_BACKGROUND_BYTES:
                return self._import_in_background(request, study, upload)
            try:
                result = case_import(study=study, stream=upload, size=upload.size, actor=request.user,
                                     source_name=upload.name)
            except CaseFileError as exc:
                errors, error_total = [str(e) for e in exc.errors[:SHOWN_IMPORT_ERRORS]], exc.total
            else:
                self.message_user(request, result.message, messages.SUCCESS)
                for line in result.warning_lines:  # the first few; the message counts them all
                    self.message_user(request, f"Warning: {line}", messages.WARNING)
                return redirect(reverse("admin:annotations_case_changelist"))
        context = {**self.admin_site.each_context(request), "form": form, "errors": errors, "error_total": error_total,
                   "title": "Import cases (JSON Lines)", "opts": self.model._meta}
        return render(request, "admin/annotations/case/import.html", context)


@admin.register(ModelArm)
class ModelArmAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_TEXT_FIELDS
    list_display = ["name", "method", "served_by", "uses_behavior_tokens", "checkpoint_hash_short"]
    list_filter = ["method", "uses_behavior_tokens"]
    search_fields = ["name", "base_model", "adapter_path", "endpoint_url", "served_model", "checkpoint_hash"]
    fieldsets = [
        (None, {"fields": ["name", "method", "uses_behavior_tokens", "prompt_template", "decoding_params",
                           "description"]}),
        ("Loaded by our workers", {"fields": ["base_model", "adapter_path", "checkpoint_hash"]}),
        ("Served by an OpenAI-compatible endpoint (vLLM, SGLang, TGI, llama.cpp, a hosted API)", {
            "fields": ["endpoint_url", "served_model", "api_key_env", "max_concurrency", "request_timeout_s",
                       "max_retries"],
            "description": "Fill these for an endpoint arm: its jobs then run on the endpoint queue's CPU workers. "
                           "The API key stays on the workers: name the environment variable that holds it."}),
    ]

    @admin.display(description="model")
    def served_by(self, obj):
        if obj.is_endpoint:
            return f"{obj.served_model} @ {obj.endpoint_url}"
        return obj.base_model + (f" + {obj.adapter_path}" if obj.adapter_path else "")

    @admin.display(description="checkpoint")
    def checkpoint_hash_short(self, obj):
        return obj.checkpoint_hash[:12]


class JobAdminBase(admin.ModelAdmin):
    formfield_overrides = JSON_TEXT_FIELDS
    list_filter = ["status", "study"]
    actions = ["cancel_jobs", "retry_jobs"]

    def _each(self, request, queryset, service, verb):
        for job in queryset:
            try:
                service(job=job, actor=request.user)
                self.message_user(request, f"Job #{job.pk}: {verb}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"Job #{job.pk}: {exc}", messages.ERROR)

    @admin.action(description="Cancel the selected jobs (they keep what they wrote)")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, job_cancel, "cancel requested")

    @admin.action(description="Retry the selected failed or cancelled jobs")
    def retry_jobs(self, request, queryset):
        self._each(request, queryset, job_retry, "queued again")
    readonly_fields = ["celery_task_id", "progress_done", "progress_total", "tokens_per_s", "eta_s", "error",
                       "traceback", "worker_host", "device_name", "attempts", "created_at", "started_at",
                       "finished_at"]

    @admin.display(description="progress")
    def progress(self, obj):
        return format_html("{} / {} ({}%)", obj.progress_done, obj.progress_total, round(obj.progress_percent))


class GenerationFailureInline(admin.TabularInline):
    """The cases the job's endpoint refused for good: read only, as the worker wrote them."""

    model = GenerationFailure
    fields = readonly_fields = ["case", "kind", "message", "created_at"]
    extra = 0
    can_delete = False
    verbose_name_plural = "cases with no answer (refused for good by the endpoint)"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(JobAdminBase):
    list_display = ["id", "study", "arm", "status", "progress", "worker_host", "created_at"]
    search_fields = ["arm__name", "celery_task_id"]
    inlines = [GenerationFailureInline]


@admin.register(TrainingJob)
class TrainingJobAdmin(JobAdminBase):
    list_display = ["id", "study", "method", "base_model", "status", "progress", "created_at"]
    search_fields = ["base_model", "celery_task_id"]


@admin.register(JudgeJob)
class JudgeJobAdmin(JobAdminBase):
    list_display = ["id", "study", "kind", "model_ref", "status", "progress", "created_at"]
    search_fields = ["model_ref", "celery_task_id"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_TEXT_FIELDS
    list_display = ["id", "case", "arm", "job", "predicted_behavior", "completion_tokens", "finish_reason",
                    "names_model", "created_at"]
    list_filter = ["arm", "predicted_behavior", "finish_reason", "names_model", "case__study"]
    search_fields = ["case__external_id", "text"]
    list_select_related = ["case", "arm", "job"]
    raw_id_fields = ["case", "job"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_TEXT_FIELDS
    list_display = ["id", "study", "case", "rater", "status", "queue_position", "submitted_at", "active_seconds"]
    list_filter = ["study", "status"]
    search_fields = ["case__external_id", "rater__username"]
    list_select_related = ["study", "case", "rater"]
    raw_id_fields = ["case", "rater"]


class ImmutableAdmin(admin.ModelAdmin):
    """Submitted judgments and audit events are never edited in place."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RatingInline(admin.TabularInline):
    model = Rating
    extra = 0
    can_delete = False
    readonly_fields = ["response", "slot", "dimension", "score", "choice", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(ImmutableAdmin):
    list_display = ["id", "assignment", "revision", "is_current", "submitted_by", "submitted_at", "reason"]
    list_filter = ["is_current", "assignment__study"]
    search_fields = ["assignment__case__external_id", "submitted_by__username", "comment"]
    inlines = [RatingInline]


@admin.register(Rating)
class RatingAdmin(ImmutableAdmin):
    list_display = ["id", "submission", "slot", "dimension", "score", "choice"]
    list_filter = ["dimension", "submission__is_current"]
    search_fields = ["submission__assignment__case__external_id", "note"]


@admin.register(Preference)
class PreferenceAdmin(ImmutableAdmin):
    list_display = ["id", "submission", "slot", "rank"]
    search_fields = ["submission__assignment__case__external_id"]


@admin.register(AuditEvent)
class AuditEventAdmin(ImmutableAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "summary"]
    list_filter = ["action", "object_type"]
    search_fields = ["summary", "object_id", "actor__username"]
    date_hierarchy = "created_at"


@admin.register(StudyAnalysis)
class StudyAnalysisAdmin(admin.ModelAdmin):
    list_display = ["study", "computed_at", "n_ratings", "compute_seconds", "requested_at", "queued_at", "error"]
    readonly_fields = ["study", "result", "computed_at", "compute_seconds", "n_ratings", "requested_at", "queued_at",
                       "error"]

    def has_add_permission(self, request):
        return False


# Written through the portal's pages (each with its audit event); the admin shows them.
@admin.register(StudyRater)
class StudyRaterAdmin(ImmutableAdmin):
    list_display = ["rater", "study", "status", "instructions_acknowledged_at", "consent_at", "practice_completed_at"]
    list_filter = ["study", "status"]


@admin.register(Invitation)
class InvitationAdmin(ImmutableAdmin):
    list_display = ["name", "email", "invited_by", "created_at", "expires_at", "accepted_at"]
    search_fields = ["name", "email"]


@admin.register(HarmDecision)
class HarmDecisionAdmin(ImmutableAdmin):
    list_display = ["rating", "decision", "decided_by", "decided_at"]
    list_filter = ["decision"]


@admin.register(PracticeAttempt)
class PracticeAttemptAdmin(ImmutableAdmin):
    list_display = ["rater", "study", "case", "created_at"]
    list_filter = ["study"]
