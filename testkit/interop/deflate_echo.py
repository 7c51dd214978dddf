"""An echo server on Python `websockets` with permessage-deflate, one listener per
configuration, for the core's interop tests (core/tests/interop/deflate.rs).

argv[1] is a JSON list of ServerPerMessageDeflateFactory keyword arguments; prints
{"ports": [...]} once all listen. Every message is echoed (websockets compresses every message
once the extension is agreed), but "bomb:N", answered with N zeros; each connection's agreed extension is sent first, as a text
message starting with "ext:".
"""

import asyncio
import json
import sys

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


async def echo(ws):
    agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    await ws.send("ext:" + agreed)
    async for message in ws:
        # "bomb:N" asks for N zeros, compressed: a few KiB on the wire.
        if isinstance(message, str) and message.startswith("bomb:"):
            await ws.send(bytes(int(message[5:])))
        else:
            await ws.send(message)


async def main():
    configs = json.loads(sys.argv[1]) if len(sys.argv) > 1 else [{}]
    servers = []
    for kwargs in configs:
        factory = ServerPerMessageDeflateFactory(**kwargs)
        server = await serve(echo, "127.0.0.1", 0, extensions=[factory], compression=None, max_size=64 << 20)
        servers.append(server)
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps({"ports": ports}), flush=True)
    await asyncio.Future()


asyncio.run(main())
