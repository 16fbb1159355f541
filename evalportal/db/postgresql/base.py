"""Django's PostgreSQL backend, with batches kept under PostgreSQL's 65,535 query
parameters.

With server-side binding (``DATABASE_PREPARED_STATEMENTS``) every value travels as a
parameter, and Django's PostgreSQL backend puts no limit on a batch: deleting a study
or a job with more than 65,535 responses (the deletion collector sends every id in one
``IN`` list) failed with "number of parameters must be between 0 and 65535".
"""

from django.db.backends.postgresql import base, operations

MAX_QUERY_PARAMS = 65_535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        return max(1, min(len(objs), MAX_QUERY_PARAMS // max(len(fields), 1)))


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
