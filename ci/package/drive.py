"""Drives an installed wazion-mcp as an MCP client would (issue 17 §3, §5).

    python drive.py --url URL --demo-log FILE [--only handshake] -- COMMAND [ARG...]

COMMAND is how a user's client would start the bridge (the venv's `wazion-mcp`, `uvx ...`,
`pipx run ...`); the URL is appended to it. The server is examples/demo_server.rs started with
`--token demo-token --log-requests`, its stderr in FILE. Checks, each printed PASS or FAIL:

1. handshake + tool call: the MCP Python SDK's stdio client (`mcp`, the official SDK)
   initializes and calls `get_shop_status`; closing stdin must end the session (a DELETE);
2. 401: with a wrong token the SDK's `initialize` fails with the server's own JSON-RPC error,
   code and message unchanged;
3. SIGTERM: a raw driver (exact lines on stdin) initializes and calls a tool, then sends
   SIGTERM to the process the client started (uv or pipx when they launch it); it must exit
   and the server must see the session's DELETE.

Exit status 0 when every check passed. Every wait is bounded.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

UNAUTHORIZED = (
    "Unauthorized: invalid or missing Bearer token. "
    "Get your token at https://www.wazion.com/dashboard \u2192 Settings."
)
WAIT = 60.0  # seconds: a bound on any one step (uvx/pipx create a venv first)

results: list[tuple[str, bool, str]] = []


def verdict(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}{'' if ok or not detail else ': ' + detail}", flush=True)


def deletes(log: str) -> list[str]:
    """The sessions the demo server saw a DELETE for (passed ones only)."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return re.findall(r'^DELETE \S+ auth=.*? session=Some\("([^"]+)"\).* passed', text, re.M)


def wait_for_new_delete(log: str, before: int) -> list[str]:
    # The bridge answers its SIGTERM/EOF only after the DELETE is answered; the demo server
    # prints its log line from another task, so poll for it, bounded.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen = deletes(log)
        if len(seen) > before:
            return seen[before:]
        time.sleep(0.05)
    return []


async def sdk_session(command: list[str], url: str, token: str):
    params = StdioServerParameters(
        command=command[0], args=command[1:] + [url], env={**os.environ, "WAZION_TOKEN": token}
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            with anyio.fail_after(WAIT):
                init = await session.initialize()
            if token != "demo-token":
                return init, None
            with anyio.fail_after(WAIT):
                call = await session.call_tool("get_shop_status", {})
            return init, call


def check_sdk(command: list[str], url: str, log: str) -> None:
    before = len(deletes(log))
    try:
        init, call = anyio.run(sdk_session, command, url, "demo-token")
        name = init.server_info.name if hasattr(init, "server_info") else init.serverInfo.name
        text = json.dumps(call.model_dump(mode="json"))[:200]
        ok = name == "wazion-demo" and not call.is_error and "shop" in text.lower()
        verdict("SDK client: initialize + tools/call get_shop_status", ok, f"server {name}, result {text}")
    except Exception as e:  # noqa: BLE001 - any failure is the verdict
        verdict("SDK client: initialize + tools/call get_shop_status", False, repr(e))
        return
    new = wait_for_new_delete(log, before)
    verdict("stdin closed -> the session is DELETEd", bool(new), "no DELETE in the demo server's log")


def mcp_error(e: BaseException) -> MCPError | None:
    """The MCPError in e, looking inside the task groups' ExceptionGroups."""
    if isinstance(e, MCPError):
        return e
    for inner in getattr(e, "exceptions", ()):
        if (found := mcp_error(inner)) is not None:
            return found
    return None


def check_401(command: list[str], url: str) -> None:
    name = "401 relayed unchanged (the SDK gets the server's code and message)"
    try:
        anyio.run(sdk_session, command, url, "wrong-token")
        verdict(name, False, "initialize succeeded with a wrong token")
    except Exception as e:  # noqa: BLE001 - any failure is the verdict
        err = mcp_error(e)
        if err is None:
            verdict(name, False, repr(e))
            return
        ok = err.error.code == -32000 and err.error.message == UNAUTHORIZED
        verdict(name, ok, f"{err.error.code} {err.error.message!r}")


def check_sigterm(command: list[str], url: str, log: str) -> None:
    before = len(deletes(log))
    env = {**os.environ, "WAZION_TOKEN": "demo-token"}
    proc = subprocess.Popen(
        command + [url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr, env=env
    )
    assert proc.stdin and proc.stdout
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "drive.py", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "get_shop_status", "arguments": {}}},
    ]
    try:
        for line in lines:
            proc.stdin.write((json.dumps(line) + "\n").encode())
        proc.stdin.flush()
        # Two answers (ids 1 and 2); a server notification may come between. The deadline
        # is enforced by the timer below, which kills the process (readline then ends).
        answers = {}
        timer = threading.Timer(WAIT, proc.kill)
        timer.start()
        try:
            while len(answers) < 2:
                raw = proc.stdout.readline()
                if not raw:
                    break
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in (1, 2):
                    answers[msg["id"]] = msg
        finally:
            timer.cancel()
        if not ("result" in answers.get(1, {}) and "result" in answers.get(2, {})):
            verdict("SIGTERM -> session DELETE", False, f"answers before SIGTERM: {answers}")
            return
        proc.send_signal(signal.SIGTERM)  # stdin stays open: only the signal ends it
        try:
            code = proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            verdict("SIGTERM -> session DELETE", False, f"still running {WAIT:.0f} s after SIGTERM")
            return
        new = wait_for_new_delete(log, before)
        verdict("SIGTERM -> exit and session DELETE", bool(new), f"exit {code}, DELETEs {new}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--demo-log", required=True)
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    check_sdk(a.command, a.url, a.demo_log)
    check_401(a.command, a.url)
    check_sigterm(a.command, a.url, a.demo_log)
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
