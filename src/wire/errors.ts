// The typed errors of the wire: the base every typed govfs error extends (a POSIX-like `code`),
// and the two ways bytes fail to cross a thread or host. They live here, below the runtime,
// so that the wire imports nothing above it; src/runtime/errors.ts re-exports them.

export class RuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A message that must cross a thread or host cannot be encoded (EINVAL), or is larger than
 * the other end accepts (EMSGSIZE). */
export class EncodeError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown; code?: 'EINVAL' | 'EMSGSIZE' }) {
    super(options?.code ?? 'EINVAL', message, options);
  }
}

/** Bytes from another thread or host that do not decode. */
export class DecodeError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EBADMSG', message, options);
  }
}
