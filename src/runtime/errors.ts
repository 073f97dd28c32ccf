// Typed runtime errors. Every error a caller can see has a POSIX-like `code`.

export class RuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

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

/** A message that must cross a thread or host cannot be encoded. */
export class EncodeError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EINVAL', message, options);
  }
}

/** Bytes from another thread or host that do not decode. */
export class DecodeError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EBADMSG', message, options);
  }
}
