"""Persistence with SQLAlchemy; knows nothing of Celery."""
