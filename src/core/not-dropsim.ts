import { DropsimError } from "./errors.ts";

/**
 * Naming what answered when it is not a dropsim server. The runtime adapters keep the first
 * bytes a peer sends, before TLS reads them ({@link FirstBytes}); when the handshake or the
 * first frame fails, those bytes say who it was: an SSH server's banner, an HTTP server's 400.
 */

/** Enough for an SSH banner or an HTTP status line. */
export const FIRST_BYTES_KEPT = 64;
/** How much of what the peer sent a message quotes. */
const QUOTED_CHARS = 40;
/** Our framing opens with an 8-byte big-endian length of at most 8 MiB: its first 5 bytes are zero. */
const FRAME_ZERO_PREFIX = 5;
/** The record types a TLS server opens with: a handshake (ServerHello), or an alert refusing ours. */
const TLS_RECORD_TYPES: ReadonlySet<number> = new Set([0x15, 0x16]);

/** The first bytes a peer sent, kept up to {@link FIRST_BYTES_KEPT}; later reads cost one comparison. */
export class FirstBytes {
  private kept = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    if (this.kept.length >= FIRST_BYTES_KEPT || chunk.length === 0) return;
    const next = new Uint8Array(Math.min(FIRST_BYTES_KEPT, this.kept.length + chunk.length));
    next.set(this.kept);
    next.set(chunk.subarray(0, next.length - this.kept.length), this.kept.length);
    this.kept = next;
  }

  get bytes(): Uint8Array {
    return this.kept;
  }
}

/** True when `bytes` open as a dropsim frame does (or nothing came yet). */
export function looksLikeDropsim(bytes: Uint8Array): boolean {
  return bytes.subarray(0, FRAME_ZERO_PREFIX).every((b) => b === 0);
}

/** True when `bytes` open as a TLS server's answer does (or nothing came yet). */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length === 0 || TLS_RECORD_TYPES.has(bytes[0]!);
}

/**
 * What the peer sent, as a person can read it: its first line up to 40 characters, with bytes
 * that are not printable ASCII written `\xNN` (so binary garbage shows as such).
 */
export function quoteSent(bytes: Uint8Array): string {
  let text = "";
  let cut = false;
  for (const b of bytes) {
    if (b === 0x0d || b === 0x0a) break;
    const char = b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
    cut = text.length + char.length > QUOTED_CHARS;
    if (cut) break;
    text += char;
  }
  return `"${text}${cut ? "…" : ""}"`;
}

export function notDropsim(address: string, sent: Uint8Array): DropsimError {
  return new DropsimError("not_dropsim", `${address} is not a dropsim server: it sent ${quoteSent(sent)} (check the address and port)`);
}
