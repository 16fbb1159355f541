"""Database sessions, read with one plain SQL query.

Every signed-in request loads its session. Django's database store composes that query
with the ORM each time, which cost about three times what the database took to answer it
in the rating page's profile; everything else (saving, expiry, key rotation, the
``clearsessions`` command) is Django's own.
"""

from functools import cache

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone

from evalportal import sql


@cache  # one per database alias, built on first use
def _load_sql(model, alias: str) -> str:
    return (f"SELECT {sql.column(model, 'session_data', alias)} FROM {sql.table(model, alias)} "
            f"WHERE {sql.column(model, 'session_key', alias)} = %s AND {sql.column(model, 'expire_date', alias)} > %s")


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        model = self.model
        alias = router.db_for_read(model)
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(_load_sql(model, alias),
                           [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
            row = cursor.fetchone()
        if row is None:
            # As Django's store: an unknown or expired key starts a new session.
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
