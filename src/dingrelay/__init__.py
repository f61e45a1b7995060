"""dingrelay, a self-hosted DingTalk robot gateway. The top package holds ``config`` (YAML -> typed settings),
``wiring`` (the composition root: the one module besides ``cli`` that reads settings and picks concrete classes),
``tables`` (the resolved robots, sources and limits the gateway works from) and ``gateway`` (accepting a message);
each subpackage's docstring says what it may import, and ``tests/test_architecture.py`` enforces it."""

__version__ = "0.1.0"
