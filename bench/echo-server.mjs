// The floor for `bench peers`: a bare Node TCP server that answers every length-prefixed
// request ([u32 length][bytes]) with a reply of the size the request's first byte asks for, in
// hundreds of bytes. No storage, no decoding, no work: what any Node server and its clients reach
// on this machine over loopback. Usage: node bench/echo-server.mjs PORT (prints "listening").
import { Buffer } from 'node:buffer';
import net from 'node:net';
import process from 'node:process';

const replies = new Map();
function reply(hundreds) {
  let r = replies.get(hundreds);
  if (r === undefined) {
    r = Buffer.alloc(4 + hundreds * 100);
    r.writeUInt32BE(hundreds * 100, 0);
    replies.set(hundreds, r);
  }
  return r;
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let held = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    let buf = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
    socket.cork(); // the replies to one read in one write
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      socket.write(reply(len > 0 ? buf[4] : 0));
      buf = buf.subarray(4 + len);
    }
    socket.uncork();
    held = buf;
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGINT', () => process.exit(0));
