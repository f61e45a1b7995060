"""Alembic's script directory for dingrelay's schema: ``env.py`` and the revisions in ``versions/``.

Run through :mod:`..migrate` (``dingrelay db upgrade``, or any store at start), never imported by the product.
"""
