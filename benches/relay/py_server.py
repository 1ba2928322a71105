"""The Python SDK's Streamable HTTP server (mcp 2.x, uvicorn), for the bench's keep-alive row.

Usage: python py_server.py PORT. One tool, `echo`; SSE responses (the SDK's default), sessions.
Started by `cargo bench --bench relay` when WAZION_MCP_BENCH_PYTHON names a Python that has
`mcp` installed (see benches/README.md).
"""
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("bench-python")


@server.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    return text


server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
