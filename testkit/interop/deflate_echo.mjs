// An echo server on Node's `ws` with permessage-deflate, one listener per configuration, for
// the core's interop tests (core/tests/interop/deflate.rs). argv[2] is a JSON list of `ws`
// perMessageDeflate options; prints {"ports":[...]} once all listen. Every message is echoed
// compressed (threshold 0), but "bomb:N", answered with N zeros; each connection's agreed extension is sent first, as a text message
// starting with "ext:".
import { WebSocketServer } from 'ws';

const configs = JSON.parse(process.argv[2] ?? '[{}]');
const servers = configs.map((opts) => {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 64 << 20,
    perMessageDeflate: { threshold: 0, ...opts },
  });
  let agreed = '';
  wss.on('headers', (headers) => {
    agreed = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:')) ?? '';
  });
  wss.on('connection', (ws) => {
    ws.send('ext:' + agreed.replace(/^[^:]*:\s*/, ''));
    ws.on('message', (data, isBinary) => {
      // "bomb:N" asks for N zeros, compressed: a few KiB on the wire.
      const text = isBinary ? '' : data.toString();
      if (text.startsWith('bomb:')) ws.send(Buffer.alloc(Number(text.slice(5))), { binary: true, compress: true });
      else ws.send(data, { binary: isBinary, compress: true });
    });
  });
  return new Promise((resolve) => wss.on('listening', () => resolve(wss.address().port)));
});
Promise.all(servers).then((ports) => console.log(JSON.stringify({ ports })));
