"""The dashboard's domain side, apart from any web framework: password hashes (``passwords``), the login throttle
(``throttle``), the sample payloads and how received ones are masked (``samples``), template previews through
the gateway's render path (``preview``) and DingTalk messages as sanitised HTML (``markup``). It may import the
gateway, the tables, the rendering, the adapters, the delivery queue's records and the core; never Flask, never
SQLAlchemy, never the settings (the views under ``dingrelay.web.ui`` call it)."""
