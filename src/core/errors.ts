/** Every failure dropsim reports carries one of these codes; the message is for people. */
export type ErrorCode =
  | "bad_frame"
  | "frame_too_large"
  | "bad_message"
  | "unknown_type"
  | "bad_path"
  | "bad_block"
  | "missing_blocks"
  | "protocol_mismatch"
  | "not_ready"
  | "parent_not_dir"
  | "not_found"
  | "disk_full"
  | "io"
  | "closed"
  | "timeout"
  | "newer_format"
  // Who may do what (issue 11): a refused hello says why in its code.
  | "no_token"
  | "unknown_token"
  | "revoked"
  | "expired"
  | "wrong_share"
  | "read_only"
  | "quota_exceeded"
  /** A plaintext client reached a server that speaks only TLS. */
  | "tls_required"
  /** Too many connections waiting to authenticate, or failed attempts from this address: try later. */
  | "busy"
  | "tls"
  /** The server's certificate is not the one this folder pinned. */
  | "fingerprint_mismatch"
  /** The client's cursor is older than what retention kept: it must resync from the current tree. */
  | "cursor_expired"
  /** The server cannot be reached: refused, no route, no such host, reset (the message says which). */
  | "unreachable"
  /** What answered is not a dropsim server (SSH, HTTP, …): said once, and tried again, in case the address is reused. */
  | "not_dropsim"
  | "internal";

export class DropsimError extends Error {
  override readonly name = "DropsimError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A one-line human description of anything thrown, for log lines and error replies. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
