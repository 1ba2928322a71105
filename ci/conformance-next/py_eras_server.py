"""A dual-era server on the Python SDK 2.x (PyPI `mcp`), for sdk_eras.mjs.

Usage: python py_eras_server.py PORT. It serves both eras the way the SDK does by default:
a 2025 `initialize` gets a session (with the GET stream), a 2026-07-28 request is served
statelessly, and `server/discover` lists only the modern versions. Tools: `echo`, and
`work`, which sends five log messages and two progress notifications, announces a changed
tool list, and answers.
"""
import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("eras-python", instructions="One server definition, both eras.")


@server.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    return text


@server.tool()
async def work(ctx: Context) -> str:
    """Logs five messages, reports progress twice, and announces a changed tool list."""
    for i in range(5):
        await ctx.info(f"step {i}")
    await ctx.report_progress(1, 2)
    await ctx.report_progress(2, 2)
    await ctx.session.send_tool_list_changed()
    return "done"


server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
