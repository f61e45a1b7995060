"""Durable delivery: the queue, per-robot rate limits, the retry policy and the worker loop."""
