"""Durable delivery: the queue's model, per-robot rate limits, the retry policy, digests for alert storms, the sender
and the worker loop, and what the dashboard reads and does (``browse``). It may import the protocol core
``dingrelay.dingtalk``; the SQL store and its migrations live in ``dingrelay.delivery.sql``, the only package
anywhere that imports SQLAlchemy."""
