// The phoenix.js peer of the interop suite: the official Phoenix Channels client (npm `phoenix`,
// pinned in package.json) against the testkit server in its plain Phoenix mode
// (`Config::phoenix`), driven by testkit/tests/interop.rs.
//
//   node phoenix_peer.mjs <socket url>
//
// Two sockets join `room:lobby` (no `realtime:` prefix) with join params of their own; one pushes
// a custom event, which the server echoes in the reply and routes to the other member. Prints
// one JSON object per line of what the clients observed; a wait that never ends exits non-zero
// (a guard against hanging, not a timing claim).
import { Socket } from "phoenix";
import WebSocket from "ws";

const [url] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
setTimeout(() => {
  out({ error: "timed out" });
  process.exit(1);
}, 30_000).unref();

const join = (channel) =>
  new Promise((resolve, reject) => {
    channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", () => reject("timeout"));
  });

const a = new Socket(url, { transport: WebSocket });
const b = new Socket(url, { transport: WebSocket });
a.connect();
b.connect();
const ca = a.channel("room:lobby", { user: "ana" });
const cb = b.channel("room:lobby", { user: "bo" });
const heard = new Promise((resolve) => cb.on("shout", (payload) => resolve(payload)));
out({ who: "ana", joined: await join(ca) });
out({ who: "bo", joined: await join(cb) });
const reply = await new Promise((resolve, reject) => {
  ca.push("shout", { body: "hi", n: 1 }).receive("ok", resolve).receive("error", reject);
});
out({ who: "ana", reply });
out({ who: "bo", shout: await heard });
await new Promise((resolve) => ca.leave().receive("ok", resolve));
out({ who: "ana", left: true });
a.disconnect();
b.disconnect();
process.exit(0);
