// Fakes for unit tests of the bridge's parts (node-links, client-gateway): a LinkHost that
// records what the parts ask of the bridge, and a socket that records what is written to it.

import type net from 'node:net';
import pino from 'pino';
import type { BridgeEvent, BridgeStats } from '../../src/net/bridge.js';
import { Conn, type CloseOptions, type LinkHost, type Peer } from '../../src/net/link.js';
import { MessageRegistry, type WireEnvelope } from '../../src/wire/registry.js';
import type { LocalRuntime } from '../../src/runtime/runtime.js';

export const registry = MessageRegistry.standard();

export interface FakeSocket {
  written: Buffer[];
  writableLength: number;
  bytesWritten: number;
  paused: boolean;
  write(b: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  pause(): void;
  resume(): void;
}

export function fakeSocket(): FakeSocket {
  return {
    written: [],
    writableLength: 0,
    bytesWritten: 0,
    paused: false,
    write(b) {
      this.written.push(Buffer.from(b));
      return true;
    },
    cork() {},
    uncork() {},
    pause() {
      this.paused = true;
    },
    resume() {
      this.paused = false;
    },
  };
}

export interface FakeHost extends LinkHost {
  events: BridgeEvent[];
  closed: { conn: Conn; code: string; reason: string; opts?: CloseOptions }[];
  ended: Conn[];
  delivered: WireEnvelope[];
  failed: { corr: number; code: string }[];
  sent: { peer: Peer; env: WireEnvelope }[];
  running: boolean;
  stopped: boolean;
  /** Where host.send goes (default: recorded in `sent`). */
  sendVia: ((peer: Peer, env: WireEnvelope) => void) | null;
}

export function fakeHost(location = 'n1'): FakeHost {
  const delivered: WireEnvelope[] = [];
  const failed: { corr: number; code: string }[] = [];
  const runtime = {
    deliver: (env: WireEnvelope) => void delivered.push(env),
    transport: (_location: string, env: WireEnvelope) => void delivered.push(env),
    failAsk: (corr: number, e: { code: string }) => void failed.push({ corr, code: e.code }),
  } as unknown as LocalRuntime;
  const stats: BridgeStats = {
    sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, dropped: 0, droppedBytes: 0,
    rejected: 0, misrouted: 0, accepted: 0, dials: 0, heartbeatTimeouts: 0, clients: 0, clientsOpen: 0, forged: 0, handshaking: 0, partialWaits: 0,
  };
  const host: FakeHost = {
    location,
    instance: 'i-host',
    runtime,
    registry,
    stats,
    log: pino({ level: 'silent' }),
    maxFrameBytes: 1024 * 1024,
    maxMessageBytes: 1024 * 1024,
    running: true,
    stopped: false,
    events: [],
    closed: [],
    ended: [],
    delivered,
    failed,
    sent: [],
    sendVia: null,
    emit(e) {
      this.events.push(e);
    },
    close(conn, code, reason, opts) {
      this.closed.push({ conn, code, reason, opts });
    },
    endHandshake(conn) {
      this.ended.push(conn);
    },
    send(peer, env) {
      if (this.sendVia) this.sendVia(peer, env);
      else this.sent.push({ peer, env });
    },
  };
  return host;
}

/** A connection over a fake socket; frames it would decode are ignored. */
export function fakeConn(opts: { dialed?: boolean; remote?: string } = {}): { conn: Conn; socket: FakeSocket } {
  const socket = fakeSocket();
  const conn = new Conn(socket as unknown as net.Socket, opts.dialed ?? false, opts.remote ?? '127.0.0.1:5000', () => {});
  conn.addressKey = '127.0.0.1';
  return { conn, socket };
}
