// The realtime-js peer of the interop suite (driven by testkit/tests/interop.rs).
//
//   node js_peer.mjs <realtime url> <scenario> [args...]
//
// Prints one JSON object per line on stdout: what the client observed (statuses, messages,
// presence, acks). Lines of the form {"step": ...} mark points where the Rust side acts on the
// server (drop connections, emit rows, ...); it answers with one JSON line on stdin when the
// script may go on. The Rust test asserts on the lines; this script only reports, except that a
// wait that never ends makes it exit non-zero (a guard against hanging, not a timing claim).

import { createInterface } from 'node:readline'
import { RealtimeClient } from '@supabase/realtime-js'
import WebSocket from 'ws'

const [url, scenario, ...args] = process.argv.slice(2)
const WAIT_MS = 30_000

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail(message) {
  out({ error: message })
  process.exit(1)
}

// Commands from the orchestrator, one JSON line each, consumed in order.
const stdinLines = []
let stdinWaiter = null
createInterface({ input: process.stdin }).on('line', (line) => {
  stdinLines.push(JSON.parse(line))
  if (stdinWaiter) stdinWaiter()
})

async function command(label) {
  const deadline = Date.now() + 60_000
  while (stdinLines.length === 0) {
    if (Date.now() > deadline) fail(`no command from the orchestrator (${label})`)
    await new Promise((resolve) => {
      stdinWaiter = resolve
      setTimeout(resolve, 200)
    })
    stdinWaiter = null
  }
  return stdinLines.shift()
}

// Polls `cond` until it is true; fails the script after WAIT_MS.
async function until(label, cond) {
  const deadline = Date.now() + WAIT_MS
  while (!cond()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${label}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function client(extra = {}) {
  const { apikey = 'interop-key', ...rest } = extra
  return new RealtimeClient(url, { params: { apikey }, transport: WebSocket, ...rest })
}

// Subscribes and resolves once the channel is SUBSCRIBED; every status is reported.
function subscribe(name, channel, statuses = []) {
  return new Promise((resolve) => {
    const guard = setTimeout(() => fail(`${name} not SUBSCRIBED after ${WAIT_MS} ms`), WAIT_MS)
    channel.subscribe((status, err) => {
      statuses.push(status)
      out({ who: name, status, reason: err ? String(err.message ?? err) : undefined })
      if (status === 'SUBSCRIBED') {
        clearTimeout(guard)
        resolve()
      }
    })
  })
}

function bytes(payload) {
  if (payload instanceof ArrayBuffer) return { binary: Array.from(new Uint8Array(payload)) }
  if (ArrayBuffer.isView(payload)) {
    return { binary: Array.from(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)) }
  }
  return { json: payload }
}

// Two clients: A (ack on, self on) sends a JSON and a binary broadcast (realtime-js sends bytes
// only for an ArrayBuffer payload; a Uint8Array would go as JSON); B receives them.
async function broadcast() {
  const a = client()
  const b = client()
  const chA = a.channel('interop-bc', { config: { broadcast: { ack: true, self: true } } })
  const chB = b.channel('interop-bc')
  const got = { A: [], B: [] }
  for (const [name, ch] of [['A', chA], ['B', chB]]) {
    ch.on('broadcast', { event: '*' }, (msg) => {
      got[name].push(msg)
      out({ who: name, broadcast: msg.event, ...bytes(msg.payload) })
    })
  }
  await subscribe('B', chB)
  await subscribe('A', chA)
  const jsonAck = await chA.send({ type: 'broadcast', event: 'json', payload: { n: 1, text: 'héllo', list: [1, 2] } })
  out({ who: 'A', ack: 'json', result: jsonAck })
  const binAck = await chA.send({ type: 'broadcast', event: 'bin', payload: new Uint8Array([0, 1, 2, 254, 255]).buffer })
  out({ who: 'A', ack: 'bin', result: binAck })
  await until('B to receive both broadcasts', () => got.B.length >= 2)
  await until('A to receive its own two broadcasts', () => got.A.length >= 2)
  out({ done: true })
  // How each socket closed, as ws saw it: 1006 means the server ended it without a close frame.
  const closed = {}
  a.socketAdapter.onClose((e) => (closed.A = e.code))
  b.socketAdapter.onClose((e) => (closed.B = e.code))
  out({ who: 'A', left: await a.removeAllChannels() })
  out({ who: 'B', left: await chB.unsubscribe() })
  await b.disconnect(1000, 'interop done')
  await until('both sockets to close', () => 'A' in closed && 'B' in closed)
  out({ closed })
}

// Two clients track, see each other (sync/join), then B untracks and A sees the leave.
async function presence() {
  const a = client()
  const b = client()
  const chA = a.channel('interop-pr', { config: { presence: { key: 'alice' } } })
  const chB = b.channel('interop-pr', { config: { presence: { key: 'bob' } } })
  const seen = { A: { sync: 0, join: [], leave: [] }, B: { sync: 0, join: [], leave: [] } }
  for (const [name, ch] of [['A', chA], ['B', chB]]) {
    ch.on('presence', { event: 'sync' }, () => {
      seen[name].sync++
      out({ who: name, presence: 'sync', state: summary(ch.presenceState()) })
    })
    ch.on('presence', { event: 'join' }, ({ key, newPresences }) => {
      seen[name].join.push(key)
      out({ who: name, presence: 'join', key, metas: newPresences.map(strip) })
    })
    ch.on('presence', { event: 'leave' }, ({ key, leftPresences }) => {
      seen[name].leave.push(key)
      out({ who: name, presence: 'leave', key, metas: leftPresences.map(strip) })
    })
  }
  await subscribe('A', chA)
  out({ who: 'A', track: await chA.track({ user: 'alice', n: 1 }) })
  await until('A to see itself', () => 'alice' in chA.presenceState())
  await subscribe('B', chB)
  out({ who: 'B', track: await chB.track({ user: 'bob', n: 2 }) })
  await until('A to see bob', () => 'bob' in chA.presenceState())
  await until('B to see alice and bob', () => 'alice' in chB.presenceState() && 'bob' in chB.presenceState())
  out({ who: 'B', untrack: await chB.untrack() })
  await until('A to see bob leave', () => !('bob' in chA.presenceState()))
  out({ final: { A: summary(chA.presenceState()), B: summary(chB.presenceState()) }, seen })
  out({ who: 'A', left: await a.removeAllChannels() })
  out({ who: 'B', left: await b.removeAllChannels() })
}

function strip(meta) {
  const { presence_ref, phx_ref, phx_ref_prev, ...rest } = meta
  return rest
}

function summary(state) {
  return Object.fromEntries(Object.entries(state).map(([k, metas]) => [k, metas.map(strip)]))
}

// One channel, two postgres bindings with different events and filters, and a third binding on
// the `fence` table: the orchestrator emits rows, then one fence row; rows on one socket arrive
// in order, so once the fence is in every row before it has been dispatched.
async function postgres() {
  const a = client()
  const ch = a.channel('interop-pg')
  const got = { inserts_room1: [], updates_room2: [] }
  let fenced = false
  ch.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: 'room_id=eq.1' }, (p) => {
    got.inserts_room1.push({ eventType: p.eventType, table: p.table, new: p.new, old: p.old })
  })
  ch.on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'messages', filter: 'room_id=eq.2' }, (p) => {
    got.updates_room2.push({ eventType: p.eventType, table: p.table, new: p.new, old: p.old })
  })
  ch.on('postgres_changes', { event: '*', schema: 'public', table: 'fence' }, () => {
    fenced = true
  })
  await subscribe('A', ch)
  out({ step: 'subscribed' })
  await until('the fence row', () => fenced)
  out({ got })
  out({ who: 'A', left: await a.removeAllChannels() })
}

// JWT mode: join with one token, then setAuth(another); the Rust side checks the server saw it.
async function auth() {
  const [token1, token2] = args
  const a = client({ apikey: token1 })
  await a.setAuth(token1)
  const ch = a.channel('interop-auth', { config: { broadcast: { ack: true, self: true } } })
  let got = 0
  ch.on('broadcast', { event: 'after' }, () => got++)
  await subscribe('A', ch)
  await a.setAuth(token2)
  out({ who: 'A', set_auth: true })
  // The channel still works after the token change: an acked broadcast comes back to itself.
  out({ who: 'A', ack: 'after', result: await ch.send({ type: 'broadcast', event: 'after', payload: { ok: true } }) })
  await until('its own broadcast', () => got === 1)
  out({ who: 'A', received_after: got, state: ch.state })
  out({ who: 'A', left: await a.removeAllChannels() })
}

// Subscribe; the orchestrator drops every connection; the client must reconnect and
// re-subscribe by itself, then receive a broadcast the orchestrator sends after that.
async function reconnect() {
  const a = client()
  const ch = a.channel('interop-rc')
  const statuses = []
  const received = []
  ch.on('broadcast', { event: 'after-drop' }, (msg) => {
    received.push(msg.payload)
    out({ who: 'A', broadcast: msg.event, json: msg.payload })
  })
  await subscribe('A', ch, statuses)
  out({ step: 'subscribed' })
  await command('dropped')
  await until('the channel to leave SUBSCRIBED', () => statuses.length > 1)
  await until('a new SUBSCRIBED', () => statuses.slice(1).includes('SUBSCRIBED'))
  out({ step: 'resubscribed', statuses })
  await until('the broadcast sent after the drop', () => received.length >= 1)
  out({ done: true, statuses, received })
  out({ who: 'A', left: await a.removeAllChannels() })
}

// With the Python peer on the same topic: track, broadcast JSON and binary, and wait for
// Python's broadcast and presence.
async function cross() {
  const a = client()
  const ch = a.channel('interop-x', { config: { presence: { key: 'js' } } })
  const received = []
  ch.on('broadcast', { event: '*' }, (msg) => {
    received.push({ event: msg.event, ...bytes(msg.payload) })
    out({ who: 'js', broadcast: msg.event, ...bytes(msg.payload) })
  })
  ch.on('presence', { event: 'sync' }, () => {})
  await subscribe('js', ch)
  out({ step: 'subscribed' })
  await command('go')
  out({ who: 'js', track: await ch.track({ lang: 'js' }) })
  // The binary one first: the v1 Python peer must never see it, and the JSON one after it
  // shows the binary one had its chance.
  out({ who: 'js', sent: 'from-js-bin', result: await ch.send({ type: 'broadcast', event: 'from-js-bin', payload: new Uint8Array([9, 8, 7]).buffer }) })
  out({ who: 'js', sent: 'from-js', result: await ch.send({ type: 'broadcast', event: 'from-js', payload: { from: 'js', n: 1 } }) })
  await until("Python's broadcast", () => received.some((r) => r.event === 'from-py'))
  // Its own track comes back as a diff too, in no fixed order with Python's: wait for both.
  await until('both presences', () => 'py' in ch.presenceState() && 'js' in ch.presenceState())
  out({ done: true, received, presence: summary(ch.presenceState()) })
  await command('finish')
  out({ who: 'js', left: await a.removeAllChannels() })
}

// One client in a channel shared with a Rust client (runtime-tokio/tests/interop.rs): it waits
// for "go", tracks, broadcasts, and reports once it has the Rust client's broadcast and
// presence; then it leaves on "finish". args: the channel name.
async function mixed() {
  const [topic] = args
  const c = client()
  const ch = c.channel(topic, { config: { presence: { key: 'js' }, broadcast: { ack: true } } })
  const received = []
  ch.on('broadcast', { event: '*' }, (msg) => {
    received.push({ event: msg.event, payload: msg.payload })
    out({ broadcast: msg.event, payload: msg.payload })
  })
  ch.on('presence', { event: 'join' }, ({ key }) => out({ presence: 'join', key }))
  await subscribe('js', ch)
  out({ step: 'subscribed' })
  await command('go')
  out({ track: await ch.track({ lang: 'js' }) })
  out({ sent: 'from-js', result: await ch.send({ type: 'broadcast', event: 'from-js', payload: { from: 'js', n: 1 } }) })
  await until("the Rust client's broadcast", () => received.some((r) => r.event === 'from-rust'))
  await until("the Rust client's presence", () => 'rust' in ch.presenceState())
  out({ done: true, received, presence: Object.keys(ch.presenceState()).sort() })
  await command('finish')
  out({ left: await c.removeAllChannels() })
  await c.disconnect()
}

const scenarios = { broadcast, presence, postgres, auth, reconnect, cross, mixed }
if (!url || !scenarios[scenario]) fail(`usage: node js_peer.mjs <url> <${Object.keys(scenarios).join('|')}> [args]`)
setTimeout(() => fail('scenario did not finish in 120 s'), 120_000).unref()
scenarios[scenario]()
  .then(() => process.exit(0))
  .catch((e) => fail(String(e?.stack ?? e)))
