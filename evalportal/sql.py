"""Names for the few plain-SQL queries on hot paths (the rating page, the session, the
user with their role): taken from the models and quoted for the database, so the SQL
follows a renamed table or column."""

from django.db import DEFAULT_DB_ALIAS, connections


def _quote(name: str, using: str) -> str:
    return connections[using].ops.quote_name(name)


def table(model, using: str = DEFAULT_DB_ALIAS) -> str:
    return _quote(model._meta.db_table, using)


def column(model, field_name: str, using: str = DEFAULT_DB_ALIAS) -> str:
    return _quote(model._meta.get_field(field_name).column, using)


def pk(model, using: str = DEFAULT_DB_ALIAS) -> str:
    return _quote(model._meta.pk.column, using)


def all_columns(model, prefix: str = "", using: str = DEFAULT_DB_ALIAS) -> str:
    """Every column of the model, named (not ``*``: a prepared statement's plan then
    survives a migration that adds a column)."""
    return ", ".join(prefix + _quote(field.column, using) for field in model._meta.concrete_fields)


# Rows written at once past which the planner's statistics of the table are refreshed.
BULK_LOAD_ROWS = 10_000


def statistics_refresh(model, using: str = DEFAULT_DB_ALIAS) -> None:
    """Refresh the planner's statistics of the model's table (``ANALYZE``). After a bulk
    load of many thousands of rows the planner would otherwise still count the table
    as nearly empty until autovacuum gets to it, and choose nested loops that turn the
    responses page's filters from milliseconds into minutes."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"ANALYZE {table(model, using)}")
