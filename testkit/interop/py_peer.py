"""The Python `realtime` peer of the interop suite (driven by testkit/tests/interop.rs).

    .venv/bin/python py_peer.py <realtime url>

It joins `interop-x` (vsn 1.0.0, presence key "py"), prints {"step": "subscribed"}, waits for
a "go" line on stdin, then tracks presence and broadcasts `from-py`, and waits until it has
received the JS peer's `from-js` broadcast and sees the keys "js" and "py" in its presence state. Every
observation is printed as one JSON line; the Rust test asserts on them. A wait that never ends
makes it exit non-zero (a guard against hanging, not a timing claim).
"""

import asyncio
import json
import sys

from realtime import AsyncRealtimeClient

WAIT_S = 30


def out(obj):
    print(json.dumps(obj), flush=True)


async def command(label):
    line = await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), 60)
    if not line:
        raise RuntimeError(f"stdin closed before {label}")
    return json.loads(line)


async def until(label, cond):
    async def poll():
        while not cond():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), WAIT_S)
    except asyncio.TimeoutError:
        raise RuntimeError(f"timed out waiting for {label}") from None


def summary(state):
    return {
        key: [{k: v for k, v in meta.items() if k not in ("presence_ref", "phx_ref", "phx_ref_prev")} for meta in metas]
        for key, metas in state.items()
    }


async def main(url):
    client = AsyncRealtimeClient(url, token="interop-key", auto_reconnect=False)
    channel = client.channel(
        "interop-x",
        {"config": {"broadcast": {"ack": True, "self": False}, "presence": {"key": "py", "enabled": True}, "private": False}},
    )
    received = []

    def on_broadcast(payload):
        entry = {"event": payload["event"], "json": payload["payload"]}
        received.append(entry)
        out({"who": "py", "broadcast": entry["event"], "json": entry["json"]})

    channel.on_broadcast("*", on_broadcast)
    channel.on_presence_sync(lambda: out({"who": "py", "presence": "sync", "state": summary(channel.presence_state())}))

    statuses = []

    def on_status(status, err):
        statuses.append(str(status.value if hasattr(status, "value") else status))
        out({"who": "py", "status": statuses[-1], "reason": str(err) if err else None})

    await channel.subscribe(on_status)
    await until("SUBSCRIBED", lambda: "SUBSCRIBED" in statuses)
    out({"step": "subscribed"})
    await command("go")
    await channel.track({"lang": "py"})
    out({"who": "py", "tracked": True})
    await channel.send_broadcast("from-py", {"from": "py", "n": 2})
    out({"who": "py", "sent": "from-py"})
    await until("the JS broadcast", lambda: any(r["event"] == "from-js" for r in received))
    # Its own track comes back as a diff too, in no fixed order with the JS one: wait for both.
    await until("both presences", lambda: {"js", "py"} <= set(channel.presence_state()))
    out({"done": True, "received": received, "presence": summary(channel.presence_state())})
    await command("finish")
    await channel.unsubscribe()
    await client.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        out({"error": "usage: py_peer.py <realtime url>"})
        sys.exit(2)
    try:
        asyncio.run(asyncio.wait_for(main(sys.argv[1]), 120))
    except Exception as e:  # noqa: BLE001 - reported to the orchestrator, then a failing exit
        out({"error": f"{type(e).__name__}: {e}"})
        sys.exit(1)
