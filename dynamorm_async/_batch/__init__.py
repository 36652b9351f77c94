"""Batch reads and writes: chunk plans, the retry policy, the executors and the batch writer."""
