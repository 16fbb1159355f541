"""Serializers of the REST API, by what they serialize: studies, cases, arms and
responses (``studies``), ratings and assignments (``ratings``), jobs and the requests that
queue them (``jobs``); the fields they share in ``fields``. Output serializers are flat
and read-only; the input serializers (register an arm; queue a generation, training or
judge job) only validate, the views hand the validated data to the services."""
