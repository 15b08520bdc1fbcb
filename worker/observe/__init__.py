"""What the system tells the outside about itself: Prometheus metrics.

The rest of the code calls the small functions of `worker.observe.metrics`; this package
imports nothing from tasks, the console or the CLI.
"""
