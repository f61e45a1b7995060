"""A handlers module that takes a ChatOps command word (``ack``): refused for a bot with alertmanager."""

from dingrelay.bot import Context, command


@command("ack", help="认领")
def ack(ctx: Context) -> str:
    return "mine"
