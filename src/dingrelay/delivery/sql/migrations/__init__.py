"""Alembic's script directory for dingrelay's schema: ``env.py`` and the revisions in ``versions/``, run through
:mod:`..migrate` (``dingrelay db upgrade``, or any store at start) and never imported by the product; it may
import SQLAlchemy, Alembic and the schema in :mod:`..tables`."""
