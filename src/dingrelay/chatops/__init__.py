"""ChatOps against Alertmanager from a DingTalk group: see, silence and acknowledge alerts. ``api`` is the
Alertmanager API v2 client that the bot commands and the card buttons build on; ``commands`` are the bot's
``alerts``, ``silences``, ``silence``, ``unsilence`` and ``ack`` (the composition root hands them to the bot's
pipeline), reading their input with ``arguments`` and ``durations`` and answering with ``answers``. It may import the
core, the adapters' matchers, the bot's Context and Handler, the renderer's time zone and httpx; never Flask,
SQLAlchemy or the settings (the composition root hands it a client)."""
