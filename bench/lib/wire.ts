import type { Socket } from "bun";
import { createHash } from "node:crypto";

/**
 * A bare protocol session, written from the wire format (8-byte big-endian length N, then N
 * bytes: type byte, body; type 1 = JSON control, type 2 = 32-byte hash + block bytes), so one
 * bench process can hold ten thousand of them cheaply. It records when each control message
 * arrived so fan-out latency can be read per session.
 */
const CONTROL = 1;
const BLOCK = 2;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Received {
  at: number;
  message: Record<string, unknown>;
}

function frame(type: number, ...parts: Uint8Array[]): Uint8Array {
  const length = 1 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(8 + length);
  new DataView(out.buffer).setBigUint64(0, BigInt(length));
  out[8] = type;
  let off = 9;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export class WireSession {
  private socket!: Socket<undefined>;
  private inbox: Uint8Array = new Uint8Array(0);
  private outbox: Uint8Array[] = [];
  private waiters: { match: (m: Record<string, unknown>) => boolean; resolve: (r: Received) => void }[] = [];
  /** Every control message received, with its arrival time. */
  readonly received: Received[] = [];
  closed = false;
  private nextId = 1;

  /** `tls`: as a client over TLS, trusting any certificate (the bench's own server). */
  static async open(port: number, opts: { host?: string; tls?: boolean } = {}): Promise<WireSession> {
    const s = new WireSession();
    s.socket = await Bun.connect<undefined>({
      hostname: opts.host ?? "127.0.0.1",
      port,
      ...(opts.tls ? { tls: { rejectUnauthorized: false } } : {}),
      socket: {
        binaryType: "uint8array",
        data: (_sock, data) => s.receive(data),
        drain: () => s.flush(),
        close: () => void (s.closed = true),
        error: () => void (s.closed = true),
        end: () => void (s.closed = true),
      },
    });
    return s;
  }

  /** Sends `message` with a fresh id and resolves with the reply carrying that id. */
  request(message: Record<string, unknown>): Promise<Received> {
    const id = this.nextId++;
    const reply = this.next((m) => m.id === id);
    this.send({ ...message, id });
    return reply;
  }

  /** The next control message matching `match` (including ones already received and not yet taken). */
  next(match: (m: Record<string, unknown>) => boolean): Promise<Received> {
    const i = this.received.findIndex((r) => match(r.message));
    if (i >= 0) return Promise.resolve(this.received[i]!);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** With a token, as protocol 2 servers want (share `default`); without, as the protocol 1 builds `--compare` may run. */
  hello(clientId: string, token: string | undefined): Promise<Received> {
    return this.request(token ? { type: "hello", protocol: 2, clientId, share: "default", token } : { type: "hello", protocol: 1, clientId });
  }

  send(message: Record<string, unknown>): void {
    this.write(frame(CONTROL, encoder.encode(JSON.stringify(message))));
  }

  sendBlock(rawHash: Uint8Array, bytes: Uint8Array): void {
    this.write(frame(BLOCK, rawHash, bytes));
  }

  close(): void {
    if (!this.closed) this.socket.end();
    this.closed = true;
  }

  private write(bytes: Uint8Array): void {
    this.outbox.push(bytes);
    this.flush();
  }

  private flush(): void {
    while (this.outbox.length > 0 && !this.closed) {
      const next = this.outbox[0]!;
      const n = this.socket.write(next);
      if (n < next.length) {
        this.outbox[0] = next.subarray(Math.max(0, n));
        return;
      }
      this.outbox.shift();
    }
  }

  private receive(data: Uint8Array): void {
    const at = performance.now();
    if (this.inbox.length === 0) this.inbox = data;
    else {
      const merged = new Uint8Array(this.inbox.length + data.length);
      merged.set(this.inbox);
      merged.set(data, this.inbox.length);
      this.inbox = merged;
    }
    let off = 0;
    while (this.inbox.length - off >= 8) {
      const length = Number(new DataView(this.inbox.buffer, this.inbox.byteOffset + off, 8).getBigUint64(0));
      if (this.inbox.length - off < 8 + length) break;
      if (this.inbox[off + 8] === CONTROL) {
        const message = JSON.parse(decoder.decode(this.inbox.subarray(off + 9, off + 8 + length))) as Record<string, unknown>;
        this.deliver({ at, message });
      }
      off += 8 + length;
    }
    this.inbox = this.inbox.slice(off);
  }

  private deliver(r: Received): void {
    const i = this.waiters.findIndex((w) => w.match(r.message));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(r);
    this.received.push(r);
  }
}

/** The `put` op and block for a new one-block file, as a raw client would send them. */
export function oneBlockFile(path: string, bytes: Uint8Array): { rawHash: Uint8Array; op: Record<string, unknown> } {
  const rawHash = new Uint8Array(createHash("sha256").update(bytes).digest());
  const blockHex = Buffer.from(rawHash).toString("hex");
  const fileHash = createHash("sha256").update(rawHash).digest("hex");
  return {
    rawHash,
    op: { op: "put", path, kind: "file", baseVersion: 0, size: bytes.length, mode: 0o644, hash: fileHash, blocks: [[blockHex, bytes.length]], mtime: 0 },
  };
}
