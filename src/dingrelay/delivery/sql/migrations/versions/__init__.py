"""The schema revisions, oldest first by ``down_revision`` (a new one is a file here with the next number); each
may import SQLAlchemy and Alembic, and nothing else of ours, so that it stays what it was when written."""
