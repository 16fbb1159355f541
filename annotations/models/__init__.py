from annotations.models.analysis import StudyAnalysis
from annotations.models.arm import ModelArm
from annotations.models.assignment import Assignment
from annotations.models.audit import AuditEvent
from annotations.models.case import Case
from annotations.models.dataset_export import DatasetExportChunk, DatasetExportJob
from annotations.models.harm import HarmDecision
from annotations.models.invitation import Invitation
from annotations.models.jobs import (
    GenerationChunk,
    GenerationJob,
    ImportChunk,
    ImportJob,
    JobStatus,
    TrainingChunk,
    TrainingJob,
)
from annotations.models.judge import JudgeChunk, JudgeComparison, JudgeJob, JudgePlantedReading, JudgeScore
from annotations.models.practice import PracticeAttempt
from annotations.models.rating import Preference, Rating, Submission
from annotations.models.response import GenerationFailure, Response
from annotations.models.study import Study, StudyArm
from annotations.models.study_rater import StudyRater

__all__ = [
    "Assignment", "AuditEvent", "Case", "DatasetExportChunk", "DatasetExportJob", "GenerationChunk", "GenerationFailure", "GenerationJob", "HarmDecision", "ImportChunk", "ImportJob", "Invitation", "JobStatus", "JudgeChunk",
    "JudgeComparison", "JudgeJob", "JudgePlantedReading", "JudgeScore", "ModelArm", "PracticeAttempt", "Preference", "Rating", "Response", "Study",
    "StudyAnalysis", "StudyArm", "StudyRater", "Submission", "TrainingChunk", "TrainingJob",
]
