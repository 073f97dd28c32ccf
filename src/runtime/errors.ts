// Typed runtime errors. Every error a caller can see has a POSIX-like `code`.

import { RuntimeError } from '../wire/errors.js';

export { DecodeError, EncodeError, RuntimeError } from '../wire/errors.js';

/** An ask got no reply within its timeout. */
export class AskTimeoutError extends RuntimeError {
  constructor(readonly target: string, readonly timeoutMs: number) {
    super('ETIMEDOUT', `ask to ${target} got no reply within ${timeoutMs} ms`);
  }
}

/** The asking actor stopped (or its host crashed) before the reply came. */
export class ActorStoppedError extends RuntimeError {
  constructor(readonly actor: string) {
    super('ECANCELED', `actor ${actor} stopped before the reply arrived`);
  }
}

/** A child's failure escalated past the restart limit. */
export class EscalatedError extends RuntimeError {
  constructor(child: string, cause: unknown) {
    super('EFAULT', `child ${child} failed too often: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}
