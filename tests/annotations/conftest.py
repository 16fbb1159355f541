"""TEMPORARY (judge, issue 8): creates the judge tables in the test database until
``annotations/migrations/000N_judge.py`` exists. Delete this file once the migration is
made; it does nothing when the tables are already there."""

import pytest


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from django.db import connection

    from annotations.models.judge import JudgeComparison, JudgeJob, JudgeScore

    with django_db_blocker.unblock():
        if JudgeJob._meta.db_table not in connection.introspection.table_names():
            with connection.schema_editor() as editor:
                for model in (JudgeJob, JudgeScore, JudgeComparison):
                    editor.create_model(model)
