"""Python `websockets` client scenarios against a plezi-server test service.

Usage: python3 ws_client.py BASE_URL SCENARIO   (BASE_URL like ws://127.0.0.1:PORT)
Prints one line per check ("ok NAME ...") and exits non-zero on the first failure.
Driven by crates/plezi-server/tests/ws_python.rs.
"""

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

TIMEOUT = 10


def check(cond, msg):
    if not cond:
        print(f"FAIL {msg}", flush=True)
        sys.exit(1)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def echo(base):
    # compression left at its default: the client offers permessage-deflate and the server
    # accepts it, so the big messages below go compressed both ways.
    async with connect(base + "/ws", proxy=None) as ws:
        await ws.send("hello from python")
        got = await recv(ws)
        check(got == "hello from python", f"text echo got {got!r}")
        print("ok text", flush=True)
        await ws.send("unicode ✓ 🚀 héllo")
        got = await recv(ws)
        check(got == "unicode ✓ 🚀 héllo", f"unicode echo got {got!r}")
        print("ok unicode", flush=True)
        data = bytes(range(256)) * 4
        await ws.send(data)
        got = await recv(ws)
        check(isinstance(got, bytes) and got == data, "binary echo differs")
        print("ok binary", flush=True)
        big = bytes((i * 7) % 256 for i in range(300_000))
        await ws.send(big)
        got = await recv(ws)
        check(got == big, "300 kB binary echo differs")
        print("ok big", flush=True)
        for i in range(500):
            await ws.send(f"n{i}")
        for i in range(500):
            got = await recv(ws)
            check(got == f"n{i}", f"message {i} got {got!r}")
        print("ok ordered 500", flush=True)


async def fragmented(base):
    async with connect(base + "/ws", proxy=None, compression=None) as ws:
        await ws.send(["frag", "men", "ted ", "text"])
        got = await recv(ws)
        check(got == "fragmented text", f"fragmented text echo got {got!r}")
        print("ok fragmented text", flush=True)
        await ws.send([b"\x01\x02", b"", b"\x03"])
        got = await recv(ws)
        check(got == b"\x01\x02\x03", f"fragmented binary echo got {got!r}")
        print("ok fragmented binary", flush=True)


async def ping(base):
    async with connect(base + "/ws", proxy=None) as ws:
        for payload in (b"py-ping", b"", b"x" * 125):
            waiter = await ws.ping(payload)
            latency = await asyncio.wait_for(waiter, TIMEOUT)
            check(latency >= 0, "pong latency")
        print("ok pong", flush=True)
        await ws.send("after ping")
        check(await recv(ws) == "after ping", "echo after ping")
        print("ok echo after ping", flush=True)


async def client_close(base):
    ws = await connect(base + "/ws", proxy=None)
    await ws.send("bye soon")
    await recv(ws)
    await asyncio.wait_for(ws.close(1000, "client done"), TIMEOUT)
    check(ws.close_code == 1000, f"server echoed close code {ws.close_code}")
    print(f"ok closed {ws.close_code}", flush=True)
    ws = await connect(base + "/ws", proxy=None)
    await asyncio.wait_for(ws.close(4001, "custom"), TIMEOUT)
    check(ws.close_code == 4001, f"server echoed close code {ws.close_code} for 4001")
    print(f"ok closed {ws.close_code}", flush=True)


async def server_close(base):
    async with connect(base + "/ws-close?code=4000", proxy=None) as ws:
        try:
            msg = await recv(ws)
            check(False, f"expected a close, got message {msg!r}")
        except ConnectionClosed as e:
            check(e.rcvd is not None, "no close frame received")
            check(e.rcvd.code == 4000, f"close code {e.rcvd.code}")
            print(f"ok server closed {e.rcvd.code} {e.rcvd.reason}", flush=True)


async def subprotocol(base):
    async with connect(base + "/ws-proto", proxy=None, subprotocols=["foo", "chat"]) as ws:
        check(ws.subprotocol == "chat", f"subprotocol {ws.subprotocol!r}")
        print("ok subprotocol chat", flush=True)
    async with connect(base + "/ws-proto", proxy=None) as ws:
        check(ws.subprotocol is None, f"subprotocol {ws.subprotocol!r} without offer")
        print("ok no subprotocol", flush=True)


async def deflate(base):
    # The default offer ("permessage-deflate; client_max_window_bits"), then one asking for a
    # 10-bit server window and no server context takeover.
    async with connect(base + "/ws", proxy=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        check(
            ext == "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            f"extensions {ext!r}",
        )
        check(len(ws.protocol.extensions) == 1, f"active {ws.protocol.extensions!r}")
        print("ok negotiated", flush=True)
        text = '{"event":"chat","message":"compress me, compress me well"}\n' * 400
        await ws.send(text)
        check(await recv(ws) == text, "compressed text echo differs")
        await ws.send("hi")
        check(await recv(ws) == "hi", "small echo")
        data = bytes((i >> 6) % 256 for i in range(200_000))
        await ws.send(data)
        check(await recv(ws) == data, "compressed binary echo differs")
        await ws.send(["frag ", "men" * 200, " ted"])
        check(await recv(ws) == "frag " + "men" * 200 + " ted", "compressed fragments")
        print("ok compressed echo", flush=True)
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, server_max_window_bits=10
    )
    async with connect(base + "/ws", proxy=None, extensions=[factory], compression=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        check("server_max_window_bits=10" in ext, f"extensions {ext!r}")
        await ws.send(text)
        check(await recv(ws) == text, "echo with a 10-bit window")
        print("ok window 10", flush=True)


SCENARIOS = {
    "deflate": deflate,
    "echo": echo,
    "fragmented": fragmented,
    "ping": ping,
    "client_close": client_close,
    "server_close": server_close,
    "subprotocol": subprotocol,
}

if __name__ == "__main__":
    base, scenario = sys.argv[1], sys.argv[2]
    asyncio.run(asyncio.wait_for(SCENARIOS[scenario](base), 60))
    print("done", flush=True)
