// Each client connection is an actor (issue 15, point 6; docs/bridge.md, "Client connections
// as actors"). The gateway (src/net/client-gateway.ts) spawns one per authenticated client under
// the gateway actor of the runtime that accepted the socket, and tells it each request the
// client sends. The connection actor asks the node for it (its ask, with its timeout) and
// answers the client with the reply under the client's correlation id. So what a connection
// has in flight belongs to it: when the socket closes the gateway stops the actor, and the
// runtime cancels its asks and their deadlines with it; when the actor stops for any other
// reason (its gateway stopped, the runtime stopped), it closes its socket.
//
// What a connection does not hold: a client's leases, exactly-once records and sessions are
// kept by the ministries under its client id, not under a connection, because a client that
// loses a connection reconnects (to the same node or another one) with the same id and carries
// on (src/actors/leases.ts, session.ts). So a connection that ends releases no lease: a lease
// the client does not renew runs out after its TTL (plus the drift bound), and the ministry
// member's session for the client ends after the session TTL of silence, dropping the read
// leases and queued lease requests it held there.

import { ActorStoppedError, AskTimeoutError } from '../runtime/errors.js';
import type { Behaviour, Context, Ref, SupervisorStrategy } from '../runtime/types.js';
import { EnvelopeKind, type TypedMessage, type WireEnvelope } from '../wire/registry.js';

/** A node's answer to a client's ask may take this long; then the client is told ETIMEDOUT and
 * the ask stops counting against its in-flight limit. (A client's own attempts time out
 * sooner: GovClient's longest, a waiting lease open, is about 5.5 s.) */
export const CLIENT_ASK_TIMEOUT_MS = 30_000;

/** The root actor client connections are supervised under, on the runtime that accepted them. */
export const GATEWAY_ACTOR = 'gateway';

/** What a connection actor needs of its socket (the gateway lends it). */
export interface ClientLink {
  /** The client's location (`c<random>@<node>`): replies are addressed to `<location>#/`. */
  readonly location: string;
  /** An answer to one of the client's asks: one ask fewer in flight; queue it to the client. */
  answer(env: WireEnvelope): void;
  /** The actor stopped: close the connection (nothing happens if it is closed already). */
  stopped(reason: string): void;
}

/** The connection actor. Its messages are the client's asks, already checked and rewritten by
 * the gateway (types, targets, `from`, the client id). */
export function clientConnectionBehaviour(link: ClientLink, askTimeoutMs = CLIENT_ASK_TIMEOUT_MS): Behaviour<WireEnvelope> {
  // The node's reply goes back to the client as it came (raw: not decoded and encoded again).
  const opts = { timeoutMs: askTimeoutMs, raw: true };
  /** Refs of the node roots this client asks (a few), made once. */
  const refs = new Map<string, Ref>();
  return {
    receive(ctx: Context<WireEnvelope>, env: WireEnvelope) {
      const { to, corr } = env;
      const signal = ctx.signal;
      let ref = refs.get(to);
      if (ref === undefined) refs.set(to, (ref = ctx.ref(to)));
      ctx.ask<TypedMessage>(ref, env.msg, opts).then(
        (msg) => {
          if (!signal.aborted) link.answer(reply(link, to, corr, msg));
        },
        (e: unknown) => {
          // Stopped: the socket is gone or going, and nobody is waiting for this answer.
          if (signal.aborted || e instanceof ActorStoppedError) return;
          link.answer(reply(link, to, corr, failure(to, e)));
        },
      );
    },
    stopped(ctx) {
      link.stopped(`${ctx.path} stopped`);
    },
  };
}

function reply(link: ClientLink, from: string, corr: number, msg: TypedMessage): WireEnvelope {
  return { to: `${link.location}#/`, from, kind: EnvelopeKind.Reply, corr, msg };
}

/** The AskFailed the client would have had from the node itself: the runtime wraps a failed
 * ask's message as "ask to <target> failed: …", and the client wraps it again, so the prefix
 * is taken off here. */
function failure(to: string, e: unknown): TypedMessage {
  const raw = (e as { code?: unknown })?.code;
  const code = typeof raw === 'string' ? raw : 'EFAULT';
  let message = e instanceof Error ? e.message : String(e);
  if (e instanceof AskTimeoutError) message = `no answer from ${to} within ${e.timeoutMs} ms at the client's gateway`;
  const prefix = `ask to ${to} failed: `;
  if (message.startsWith(prefix)) message = message.slice(prefix.length);
  return { type: 'govfs.runtime.AskFailed', code, message };
}

/** The gateway actor: it only supervises. A connection actor that throws is stopped (which
 * closes its socket: the client reconnects), never restarted onto a socket in unknown state. */
export function gatewayBehaviour(): Behaviour<never> {
  return { receive() {} };
}

export const GATEWAY_STRATEGY: SupervisorStrategy = { kind: 'one-for-one', decide: () => 'stop' };
