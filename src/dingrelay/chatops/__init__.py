"""ChatOps against Alertmanager from a DingTalk group: see, silence and acknowledge alerts. ``api`` is the
Alertmanager API v2 client that the bot commands and the card buttons build on. It may import the core, the
adapters' matchers and httpx; never Flask, SQLAlchemy or the settings (the composition root hands it a client)."""
