"""Talking to the Scenario API over HTTP. Knows nothing of queues or databases."""
