// Generates the presence fixture: random `presence_state` / `presence_diff` sequences fed to
// phoenix.js's own `Presence` (the npm `phoenix` package, pinned in package.json), recording
// every onJoin / onLeave / onSync callback in order and the state's `list()` after each step.
// core/tests/it/presence_js.rs replays the fixture through the core's presence state and must
// produce the same callbacks, in the same order, and the same keys and metas in the same order.
//
//   node presence_fixture.mjs > ../../core/tests/it/fixtures/presence_phoenix_js.json
//   node presence_fixture.mjs --check ../../core/tests/it/fixtures/presence_phoenix_js.json
//
// The payloads are written as JSON text, in the order the generator chose, so phoenix.js reads
// them with JSON.parse exactly as a socket message: keys that are array indices ("2", "10")
// iterate first in numeric order, the others in the order they first appear, and a key given
// twice keeps its first place with its last value.
//
// One case is left out on purpose: a rejoin while diffs wait for the state. phoenix.js keeps one
// queue for all joins and applies an old join's diffs to the next join's state; the core drops
// them (core/src/phoenix/presence tests say why). Keys with no metas are left out too: the server
// never sends one, and the core skips them rather than keep an empty key.
import { readFileSync } from "node:fs";
import { Presence } from "phoenix";

const SEQUENCES = 80;
const STEPS = 12;
/// Keys: plain, array indices (which JavaScript orders first, numerically), near-indices that
/// are not ("01", "-1", 2^32-1), and names of Object.prototype's properties.
const KEYS = ["ana", "bo", "2", "10", "0", "zoe", "01", "-1", "4294967295", "constructor", "__proto__", "toString"];

// mulberry32: a small seeded generator, so the fixture is the same on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sequence(seed) {
  const r = rng(seed);
  const int = (n) => Math.floor(r() * n);
  const pick = (xs) => xs[int(xs.length)];
  const shuffle = (xs) => {
    const out = xs.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  };
  const keys = shuffle(KEYS).slice(0, 3 + int(5));
  let nextRef = 1;
  const known = []; // refs handed out so far (the server may send them again)
  const meta = (ref) => {
    // phx_ref at a varying place among the user fields; sometimes a phx_ref_prev.
    const fields = [];
    if (int(3) === 0) fields.push(`"n":${int(100)}`);
    if (int(6) === 0) fields.push(`"name":${JSON.stringify(pick(["a", "é", "x\"y"]))}`);
    fields.splice(int(fields.length + 1), 0, `"phx_ref":"${ref}"`);
    if (int(8) === 0 && known.length) fields.push(`"phx_ref_prev":"${pick(known)}"`);
    return `{${fields.join(",")}}`;
  };
  const freshOrKnown = (newBias) => {
    if (known.length && r() > newBias) return pick(known);
    const ref = `r${nextRef++}`;
    known.push(ref);
    return ref;
  };
  const metas = (newBias) => {
    const n = 1 + int(3);
    const refs = [];
    for (let i = 0; i < n; i++) refs.push(freshOrKnown(newBias));
    return `{"metas":[${refs.map(meta).join(",")}]}`;
  };
  // `{key: {metas}}` of some keys, in a random order, sometimes with a key given twice.
  const entries = (newBias, most) => {
    const chosen = shuffle(keys).slice(0, int(most + 1));
    if (chosen.length && int(8) === 0) chosen.push(pick(chosen));
    return `{${chosen.map((k) => `${JSON.stringify(k)}:${metas(newBias)}`).join(",")}}`;
  };

  const channel = {
    ref: "1",
    handlers: {},
    on(event, callback) {
      this.handlers[event] = callback;
    },
    joinRef() {
      return this.ref;
    },
  };
  const presence = new Presence(channel);
  let events = [];
  const copy = (x) => (x === undefined ? null : JSON.parse(JSON.stringify(x)));
  presence.onJoin((key, current, joined) => events.push(["join", key, current ? copy(current.metas) : [], copy(joined.metas)]));
  presence.onLeave((key, remaining, left) => events.push(["leave", key, copy(remaining.metas), copy(left.metas)]));
  presence.onSync(() => events.push(["sync"]));

  const steps = [];
  for (let i = 0; i < STEPS; i++) {
    // Most sequences start with the join's state; some with diffs that must wait for it.
    let kind = i === 0 && int(4) > 0 ? "state" : pick(["state", "diff", "diff", "diff", "rejoin"]);
    if (kind === "rejoin" && presence.pendingDiffs.length > 0) kind = "diff";
    if (kind === "rejoin") {
      channel.ref = String(Number(channel.ref) + 1);
      steps.push({ kind, join_ref: channel.ref });
      continue;
    }
    const payload = kind === "state" ? entries(0.5, keys.length) : `{"joins":${entries(0.7, 3)},"leaves":${entries(0.1, 3)}}`;
    events = [];
    channel.handlers[kind === "state" ? "presence_state" : "presence_diff"](JSON.parse(payload));
    const list = presence.list((key, p) => [key, copy(p.metas)]);
    steps.push({ kind, join_ref: channel.ref, payload, events, list });
  }
  return { seed, steps };
}

const fixture = {
  generator: "testkit/interop/presence_fixture.mjs",
  phoenix: JSON.parse(readFileSync(new URL("./node_modules/phoenix/package.json", import.meta.url))).version,
  sequences: Array.from({ length: SEQUENCES }, (_, i) => sequence(i + 1)),
};
const text = JSON.stringify(fixture) + "\n";

if (process.argv[2] === "--check") {
  const committed = readFileSync(process.argv[3], "utf8");
  if (committed !== text) {
    console.error(`${process.argv[3]} is not what phoenix.js ${fixture.phoenix} produces: regenerate it`);
    process.exit(1);
  }
  console.log(`${process.argv[3]}: ${SEQUENCES} sequences match phoenix.js ${fixture.phoenix}`);
} else {
  process.stdout.write(text);
}
