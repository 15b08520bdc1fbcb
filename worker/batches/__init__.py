"""Batch runs: many generations described in one manifest file."""
