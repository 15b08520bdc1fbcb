"""The web console: batches, jobs, dead letters and health over the same database and broker as the CLI."""
