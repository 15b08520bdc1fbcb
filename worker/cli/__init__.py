"""The project's command line."""
