// The realtime-js receiver of the live benchmark (benches/realtime_report.py).
//
//   node benches/js/recv.mjs <realtime url> [count] [topic]
//
// realtime-js and ws come from testkit/interop/node_modules (scripts/interop-setup). The client
// speaks its default vsn 2.0.0, so broadcasts arrive as kind-4 binary frames whose JSON payload
// realtime-js parses; every payload is then checked field by field into a Tick (the shape of the
// Rust side's serde struct). Prints `ready` once subscribed, then one JSON line with the same
// fields as the Rust receivers' RecvReport: CPU (process.cpuUsage, user + system) from the first
// message to the last, peak RSS (VmHWM), latency from the payload's sent_us to now.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', '..', 'testkit', 'interop', 'package.json'))
const { RealtimeClient } = require('@supabase/realtime-js')
const WebSocket = require('ws')

const [url, countArg = '20000', topic = 'bench'] = process.argv.slice(2)
const expected = Number(countArg)
const FIRST_WAIT_MS = 60_000
const IDLE_MS = 5_000

class Tick {
  constructor(seq, sentUs, user, room, x, y, active, text) {
    this.seq = seq
    this.sent_us = sentUs
    this.user = user
    this.room = room
    this.x = x
    this.y = y
    this.active = active
    this.text = text
  }
}

function num(v) {
  if (typeof v !== 'number') throw new Error('not a number')
  return v
}
function str(v) {
  if (typeof v !== 'string') throw new Error('not a string')
  return v
}
function toTick(p) {
  if (p === null || typeof p !== 'object') throw new Error('not an object')
  if (typeof p.active !== 'boolean') throw new Error('not a bool')
  return new Tick(num(p.seq), num(p.sent_us), str(p.user), str(p.room), num(p.x), num(p.y), p.active, str(p.text))
}

const unixMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000)
const cpuMicros = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
function statusKib(field) {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(field + ':'))
  return line ? Number(line.split(/\s+/)[1]) : 0
}

const latencies = []
let received = 0
let bad = 0
let first = null
let last = null
let timer = null
let finished = false

function finish() {
  if (finished) return
  finished = true
  clearTimeout(timer)
  latencies.sort((a, b) => a - b)
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.round((latencies.length - 1) * p))] : 0)
  const cpuUs = first && last ? last.cpu - first.cpu : 0
  const n = Math.max(1, received + bad - 1)
  process.stdout.write(
    JSON.stringify({
      receiver: 'realtime-js',
      expected,
      received,
      bad,
      cpu_us: cpuUs,
      cpu_per_msg_us: cpuUs / n,
      wall_s: first && last ? Number(last.wall - first.wall) / 1e9 : 0,
      p50_us: pct(0.5),
      p99_us: pct(0.99),
      max_us: latencies.length ? latencies[latencies.length - 1] : 0,
      hwm_kib: statusKib('VmHWM'),
    }) + '\n',
    () => process.exit(0),
  )
}

function arm(ms) {
  clearTimeout(timer)
  timer = setTimeout(finish, ms)
}

function stamp() {
  const now = { wall: process.hrtime.bigint(), cpu: cpuMicros() }
  if (!first) first = now
  last = now
}

const client = new RealtimeClient(url, { params: { apikey: 'bench' }, transport: WebSocket })
const channel = client.channel(topic)
channel.on('broadcast', { event: '*' }, (msg) => {
  if (finished) return
  try {
    const t = toTick(msg.payload)
    latencies.push(unixMicros() - t.sent_us)
    received += 1
  } catch {
    bad += 1
  }
  stamp()
  if (received + bad >= expected) finish()
  else if (received + bad === 1) arm(IDLE_MS)
  else if ((received + bad) % 256 === 0) arm(IDLE_MS)
})
channel.subscribe((status) => {
  if (status === 'SUBSCRIBED') {
    process.stdout.write('ready\n')
    arm(FIRST_WAIT_MS)
  } else if (status !== 'CLOSED') {
    process.stderr.write(`recv.mjs: channel status ${status}\n`)
  }
})
