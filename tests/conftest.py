import json
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER
from tests.factories import StudyFactory, UserFactory

EXAMPLE_CASES = Path(__file__).resolve().parent / "fixtures" / "cases.example.jsonl"
# planted_study, planted_judge: a rated study whose automatic reading is known by construction
pytest_plugins = ["tests.annotations.reading_fixtures"]


# Modules that load the model or start Celery workers take minutes each; the xdist
# processes take whole modules (make test: --dist loadfile) in collection order, so these
# go first and the short ones fill in behind them instead of a long module ending the run.
LONG_MODULE_MARKERS = ("modeling", "worker")


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering, which would undo it
def pytest_collection_modifyitems(config, items):
    long_modules = {item.path for item in items
                    if any(item.get_closest_marker(name) for name in LONG_MODULE_MARKERS)}
    items.sort(key=lambda item: item.path not in long_modules)  # stable: each module keeps its order


@pytest.fixture
def clean_broker():
    """Nothing consumes the test broker in-process: what a test queues is dropped after it."""
    from tests.annotations.worker_helpers import flush_test_broker

    flush_test_broker()
    yield
    flush_test_broker()


@pytest.fixture
def workers(tmp_path):
    """``workers(**options)`` starts a real Celery worker process on every queue, against
    this test's database and broker (PostgreSQL only); all are stopped after the test."""
    from tests.annotations.worker_helpers import started_workers

    with started_workers(tmp_path) as start:
        yield start


@pytest.fixture
def example_cases_bytes() -> bytes:
    return EXAMPLE_CASES.read_bytes()


@pytest.fixture
def example_cases() -> list[dict]:
    return [json.loads(line) for line in EXAMPLE_CASES.read_text().splitlines() if line.strip()]


@pytest.fixture
def study(db):
    return StudyFactory(slug="trial")


@pytest.fixture
def clinician(db):
    return UserFactory(username="clin", role=CLINICIAN)


@pytest.fixture
def researcher(db):
    return UserFactory(username="res", role=RESEARCHER)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="boss", role=ADMIN)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clinician_client(clinician):
    return _client_for(clinician)


@pytest.fixture
def researcher_client(researcher):
    return _client_for(researcher)


@pytest.fixture
def admin_client_(admin_user):
    return _client_for(admin_user)


# One reply per arm, in arm order; the texts never name an arm, as real responses would not
# (the screenshots of the rating page show them).
RATED_STUDY_TEXTS = ("Agreed, continue the plan and review in the morning.",
                     "Before the 18:00 dose, check today's platelet count.",
                     "Hold the heparin: platelets have halved since Monday. Send a PF4 test.")


@pytest.fixture
def rated_study(db):
    """A study with 3 arms and 6 test cases, each with one response per arm, plus 1 train case."""
    from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory

    study = StudyFactory(slug="rated", raters_per_item=2)
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm
            for i, name in enumerate(["Baseline", "GeneralSFT", "BehaviorSFT"])]
    for n in range(6):
        case = CaseFactory(study=study, external_id=f"rc-{n}")
        for arm, text in zip(arms, RATED_STUDY_TEXTS):
            ResponseFactory(case=case, arm=arm, text=f"{text} (case {n})")
    CaseFactory(study=study, external_id="train-0", split="train")
    return study


def complete_rating(n_slots: int, rubric: list[dict], likert: str = "4") -> dict:
    """Form data answering every required field of a rubric."""
    data = {}
    for slot in range(n_slots):
        for dim in rubric:
            name = f"r{slot}_{dim['key']}"
            if dim["scale"] == "likert":
                data[name] = likert
            elif dim["scale"] == "categorical":
                data[name] = dim["choices"][1][0]
        data[f"rank_{slot}"] = str(slot + 1)
    data["comment"] = "Clear case."
    return data


@pytest.fixture
def rated_submissions(rated_study):
    """rated_study planned for 3 clinicians (k=2) with every assignment submitted; the
    BehaviorSFT response is always rated best and gets realism 5, the others 3 and 2."""
    from annotations.models import Assignment, Response
    from annotations.services.planner import assignments_plan
    from annotations.services.rating import assignment_submit
    from evalportal.roles import CLINICIAN

    raters = [UserFactory(username=f"rater{i}", role=CLINICIAN) for i in range(3)]
    assignments_plan(study=rated_study, raters=raters)
    arm_of = dict(Response.objects.values_list("id", "arm__name"))
    realism = {"BehaviorSFT": "5", "GeneralSFT": "3", "Baseline": "2"}
    rank = {"BehaviorSFT": "1", "GeneralSFT": "2", "Baseline": "3"}
    for assignment in Assignment.objects.filter(study=rated_study).select_related("study", "rater"):
        data = complete_rating(len(assignment.slots), rated_study.rubric)
        for slot, response_id in enumerate(assignment.slots):
            data[f"r{slot}_realism"] = realism[arm_of[response_id]]
            data[f"rank_{slot}"] = rank[arm_of[response_id]]
        assignment_submit(assignment=assignment, rater=assignment.rater, data=data)
    return rated_study


@pytest.fixture
def postgresql(db):
    """The test database, which must be PostgreSQL (tests marked ``postgres``)."""
    if connection.vendor != "postgresql":
        pytest.fail("needs PostgreSQL (run with DATABASE_URL=postgres://...)")
