// Node's `ws` permessage-deflate on the messages of the Rust `deflate` bench
// (benches/src/deflate.rs): the same Realtime-like JSON cut into 1 KiB and 64 KiB messages,
// 1 MiB of payload per pass. `deflate_send`: the client's PerMessageDeflate compresses each
// message (level 1, context takeover); `deflate_recv`: it inflates what a server-side
// PerMessageDeflate (zlib's default level 6) compressed. zlib runs on libuv's threads, so CPU
// is process.cpuUsage (user + system, every thread). Prints one JSON line per cell.
//
//   node benches/js/deflate.mjs [passes]
//
// ws comes from testkit/interop/node_modules (scripts/interop-setup).
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', '..', 'testkit', 'interop', 'package.json'))
// By file: the package's `exports` does not list it (it is the module `ws` itself uses).
const PerMessageDeflate = require(path.join(here, '..', '..', 'testkit', 'interop', 'node_modules', 'ws', 'lib', 'permessage-deflate.js'))

const passes = Number(process.argv[2] ?? '5')
const BATCH = 1 << 20

// benches/src/lib.rs `json_text`, line for line.
function jsonText(len) {
  const parts = []
  let total = 0
  for (let i = 0n; total < len; i++) {
    const hex = ((i * 0x9E3779B9n) & 0xFFFFFFFFFFFFFFFFn).toString(16)
    const line = `{"topic":"realtime:public:messages","event":"postgres_changes","payload":{"data":{"id":${i},"body":"hello world","user_id":"8f2c-${hex}"},"ids":[${i}]},"ref":"${i % 97n}"}`
    parts.push(line)
    total += line.length
  }
  return Buffer.from(parts.join('')).subarray(0, len)
}

function deflater(isServer, level) {
  const pmd = new PerMessageDeflate({ threshold: 0, zlibDeflateOptions: { level } }, isServer, 0)
  // The agreement: a bare `permessage-deflate` (context takeover, full windows) both ways.
  pmd.accept([{}])
  return pmd
}

const compress = (pmd, data) =>
  new Promise((resolve, reject) => pmd.compress(data, true, (err, out) => (err ? reject(err) : resolve(out))))
const decompress = (pmd, data) =>
  new Promise((resolve, reject) => pmd.decompress(data, true, (err, out) => (err ? reject(err) : resolve(out))))

async function timed(messages, op) {
  const t0 = process.hrtime.bigint()
  const c0 = process.cpuUsage()
  let bytes = 0
  for (const m of messages) bytes += (await op(m)).length
  const wall = Number(process.hrtime.bigint() - t0) / 1e3
  const cpu = process.cpuUsage(c0)
  return { wall, cpu: cpu.user + cpu.system, bytes }
}

for (const [size, label] of [[1024, '1KiB'], [64 << 10, '64KiB']]) {
  const n = Math.max(2, Math.floor(BATCH / size))
  const text = jsonText(n * size)
  const messages = []
  for (let i = 0; i < n; i++) messages.push(text.subarray(i * size, (i + 1) * size))
  // The server's compressed stream, for the receive cells (one stream, context takeover).
  const server = deflater(true, 6)
  const wire = []
  for (const m of messages) wire.push(await compress(server, m))
  const cells = [
    ['deflate_send', () => { const c = deflater(false, 1); return (m) => compress(c, m) }, messages],
    ['deflate_recv', () => { const c = deflater(false, 1); return (m) => decompress(c, m) }, wire],
  ]
  for (const [group, make, input] of cells) {
    const op = make()
    await timed(input, op) // warm-up pass (a receive pass starts the stream anew below)
    const runs = []
    for (let p = 0; p < passes; p++) {
      // A receiver needs the stream from its start: a fresh inflater per pass.
      const fresh = group === 'deflate_recv' ? make() : op
      runs.push(await timed(input, fresh))
    }
    runs.sort((a, b) => a.wall - b.wall)
    const best = runs[Math.floor(runs.length / 2)]
    const ratio = group === 'deflate_send' ? best.bytes / (n * size) : wire.reduce((s, w) => s + w.length, 0) / (n * size)
    console.log(JSON.stringify({
      group, impl: 'node_ws', size: label, messages: n,
      us_per_message: best.wall / n, cpu_us_per_message: best.cpu / n, ratio,
    }))
  }
}
