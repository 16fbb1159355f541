from django.urls import path

from annotations.views import dashboard, exports, jobs, judge, rater, researcher

urlpatterns = [
    path("no-role/", rater.no_role, name="no-role"),
    path("rate/", rater.queue, name="rater-queue"),
    path("rate/next/", rater.next_case, name="rater-next"),
    path("rate/done/", rater.done, name="rater-done"),
    path("rate/studies/<int:study_id>/instructions/", rater.instructions, name="rater-instructions"),
    path("rate/<int:assignment_id>/", rater.rate_case, name="rate-case"),
    path("rate/<int:assignment_id>/draft/", rater.save_draft, name="rate-draft"),
    path("rate/<int:assignment_id>/submit/", rater.submit, name="rate-submit"),
    path("studies/", researcher.study_list, name="study-list"),
    path("studies/<slug:slug>/", researcher.study_detail, name="study-detail"),
    path("studies/<slug:slug>/status/", researcher.study_status, name="study-status"),
    path("studies/<slug:slug>/plan/", researcher.study_plan, name="study-plan"),
    path("studies/<slug:slug>/sample/", researcher.study_sample, name="study-sample"),
    path("studies/<slug:slug>/jobs/", jobs.job_list, name="job-list"),
    path("studies/<slug:slug>/jobs/generation/", jobs.queue_generation, name="job-queue-generation"),
    path("studies/<slug:slug>/jobs/training/", jobs.queue_training, name="job-queue-training"),
    path("studies/<slug:slug>/jobs/<str:kind>/<int:pk>/<str:action>/", jobs.job_action, name="job-action"),
    path("studies/<slug:slug>/responses/", jobs.response_list, name="response-list"),
    path("studies/<slug:slug>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("studies/<slug:slug>/dashboard/recompute/", dashboard.recompute, name="dashboard-recompute"),
    path("studies/<slug:slug>/dashboard/<str:figure>.csv", dashboard.figure_csv, name="dashboard-figure-csv"),
    path("studies/<slug:slug>/export/ratings.<str:fmt>", exports.ratings_export, name="ratings-export"),
    path("studies/<slug:slug>/judge/", judge.judge_page, name="judge"),
    path("studies/<slug:slug>/judge/queue/", judge.judge_queue, name="judge-queue"),
    path("studies/<slug:slug>/judge/scores/<int:pk>/", judge.judge_score_detail, name="judge-score-detail"),
    path("studies/<slug:slug>/judge/<int:pk>/scores.jsonl", judge.judge_scores_export, name="judge-scores-export"),
    path("studies/<slug:slug>/judge/<int:pk>/<str:figure>.csv", judge.judge_figure_csv, name="judge-figure-csv"),
    path("studies/<slug:slug>/judge/<int:pk>/<str:action>/", judge.judge_job_action, name="judge-job-action"),
]
