// The realtime-js peer of runtime-tokio/tests/interop.rs: one client in a channel shared with the
// Rust client.
//
//   node peer.mjs <realtime url> <channel>
//
// The packages come from testkit/interop/node_modules (pinned there, installed by
// scripts/interop-setup). Prints one JSON object per line on stdout (what it observed); lines
// {"step": ...} mark points where it waits for one JSON line on stdin from the Rust test. A wait
// that never ends makes it exit non-zero (a guard against hanging, not a timing claim).

import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(new URL('../../../testkit/interop/package.json', import.meta.url))
const { RealtimeClient } = require('@supabase/realtime-js')
const WebSocket = require('ws')

const [url, topic] = process.argv.slice(2)
const WAIT_MS = 30_000

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail(message) {
  out({ error: message })
  process.exit(1)
}

const commands = []
let wake = null
createInterface({ input: process.stdin }).on('line', (line) => {
  commands.push(JSON.parse(line))
  if (wake) wake()
})

async function command(label) {
  await until(`the command ${label}`, () => commands.length > 0)
  return commands.shift()
}

async function until(label, cond) {
  const deadline = Date.now() + WAIT_MS
  while (!cond()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${label}`)
    await new Promise((resolve) => {
      wake = resolve
      setTimeout(resolve, 10)
    })
    wake = null
  }
}

async function main() {
  if (!url || !topic) fail('usage: node peer.mjs <url> <channel>')
  const client = new RealtimeClient(url, { params: { apikey: 'interop-key' }, transport: WebSocket })
  const ch = client.channel(topic, { config: { presence: { key: 'js' }, broadcast: { ack: true } } })
  const received = []
  ch.on('broadcast', { event: '*' }, (msg) => {
    received.push({ event: msg.event, payload: msg.payload })
    out({ broadcast: msg.event, payload: msg.payload })
  })
  ch.on('presence', { event: 'join' }, ({ key }) => out({ presence: 'join', key }))
  await new Promise((resolve) => {
    const guard = setTimeout(() => fail('not SUBSCRIBED'), WAIT_MS)
    ch.subscribe((status, err) => {
      out({ status, reason: err ? String(err.message ?? err) : undefined })
      if (status === 'SUBSCRIBED') {
        clearTimeout(guard)
        resolve()
      }
    })
  })
  out({ step: 'subscribed' })
  await command('go')
  out({ track: await ch.track({ lang: 'js' }) })
  out({ sent: 'from-js', result: await ch.send({ type: 'broadcast', event: 'from-js', payload: { from: 'js', n: 1 } }) })
  await until("the Rust client's broadcast", () => received.some((r) => r.event === 'from-rust'))
  await until("the Rust client's presence", () => 'rust' in ch.presenceState())
  out({ done: true, received, presence: Object.keys(ch.presenceState()).sort() })
  await command('finish')
  out({ left: await client.removeAllChannels() })
  await client.disconnect()
}

setTimeout(() => fail('did not finish in 120 s'), 120_000).unref()
main()
  .then(() => process.exit(0))
  .catch((e) => fail(String(e?.stack ?? e)))
