/**
 * dropsim's framing written by hand (8-byte big-endian length, type byte, body), independently
 * of src/: tests built on it check the wire format from outside, and can send what a
 * well-behaved peer never would.
 */
export const FRAME_CONTROL = 1;
export const FRAME_BLOCK = 2;
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export interface RawFrame {
  type: number;
  body: Uint8Array;
  /** The parsed body of a control frame (undefined if it is not JSON). */
  json?: Record<string, unknown>;
}

export function frameHeader(length: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(length));
  return out;
}

export function frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 1 + body.length);
  out.set(frameHeader(1 + body.length), 0);
  out[8] = type;
  out.set(body, 9);
  return out;
}

export function controlFrame(message: unknown): Uint8Array {
  return frame(FRAME_CONTROL, new TextEncoder().encode(typeof message === "string" ? message : JSON.stringify(message)));
}

/**
 * Cuts a byte stream that arrives in arbitrary pieces into frames. It trusts the length
 * prefix (no cap): the peers under test are the ones expected to enforce limits.
 */
export class FrameSplitter {
  private inbox = new Uint8Array(0);

  /** Bytes received and not yet part of a complete frame taken with `next`. */
  get buffered(): number {
    return this.inbox.length;
  }

  push(data: Uint8Array): void {
    const merged = new Uint8Array(this.inbox.length + data.length);
    merged.set(this.inbox);
    merged.set(data, this.inbox.length);
    this.inbox = merged;
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next(): RawFrame | undefined {
    if (this.inbox.length < 8) return undefined;
    const length = Number(new DataView(this.inbox.buffer, this.inbox.byteOffset, 8).getBigUint64(0));
    if (this.inbox.length < 8 + length) return undefined;
    const type = this.inbox[8]!;
    const body = this.inbox.slice(9, 8 + length);
    this.inbox = this.inbox.slice(8 + length);
    let json: Record<string, unknown> | undefined;
    if (type === FRAME_CONTROL) {
      try {
        json = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
      } catch {}
    }
    return { type, body, json };
  }
}

/**
 * Bytes for a socket that may take only part of a write: the rest waits, in order, for the
 * next `flush` (call it from the socket's `drain`). Nothing is written once `isClosed` says so.
 */
export class SendQueue {
  private queue: Uint8Array[] = [];

  constructor(
    private readonly send: (bytes: Uint8Array) => number,
    private readonly isClosed: () => boolean,
  ) {}

  /** Bytes queued and not yet taken by the socket. */
  get unsent(): number {
    return this.queue.reduce((n, b) => n + b.length, 0);
  }

  write(bytes: Uint8Array): void {
    this.queue.push(bytes);
    this.flush();
  }

  flush(): void {
    while (this.queue.length > 0 && !this.isClosed()) {
      const next = this.queue[0]!;
      const n = this.send(next);
      if (n < next.length) {
        this.queue[0] = next.subarray(Math.max(0, n));
        return;
      }
      this.queue.shift();
    }
  }
}
