"""What the workers of a fleet share in Redis: the request budget, pauses, leases, parallel slots.

Knows Redis, not Celery or the database; its errors are its own, not Scenario's.
"""
