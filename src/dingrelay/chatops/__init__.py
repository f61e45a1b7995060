"""ChatOps against Alertmanager from a DingTalk group: see, silence and acknowledge alerts.

``api`` is the Alertmanager API v2 client (alerts, silences, create, expire); the bot commands and the card buttons
build on it. Nothing here imports Flask, SQLAlchemy or the settings: the composition root hands each piece its
resolved client.
"""
