"""A FastAPI application that runs its generations through scenario-worker (see README.md here)."""
