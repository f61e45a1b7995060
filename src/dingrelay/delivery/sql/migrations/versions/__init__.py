"""The schema revisions, oldest first by ``down_revision``. A new one: a file here with the next number."""
