import type { Socket } from "bun";
import { waitFor } from "./wait-for.ts";

/**
 * A bare TCP connection speaking dropsim's framing by hand (8-byte big-endian length, type
 * byte, body), written independently of src/ so it checks the wire format, and can send
 * what a well-behaved client never would.
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

export class RawConnection implements AsyncDisposable {
  private socket!: Socket<undefined>;
  private inbox = new Uint8Array(0);
  private readonly frames: RawFrame[] = [];
  private outbox: Uint8Array[] = [];
  closed = false;
  closeError: Error | undefined;

  static async open(host: string, port: number): Promise<RawConnection> {
    const conn = new RawConnection();
    conn.socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        binaryType: "uint8array",
        data: (_s, data) => conn.receive(data),
        drain: () => conn.flush(),
        close: (_s, error) => {
          conn.closed = true;
          conn.closeError = error;
        },
        error: (_s, error) => {
          conn.closed = true;
          conn.closeError = error;
        },
        end: () => {
          conn.closed = true;
        },
      },
    });
    return conn;
  }

  /** Raw bytes, no framing added. */
  write(bytes: Uint8Array): void {
    this.outbox.push(bytes);
    this.flush();
  }

  sendJson(message: unknown): void {
    this.write(controlFrame(message));
  }

  /** The next frame from the server (in arrival order). */
  async nextFrame(timeout = 10_000): Promise<RawFrame> {
    await waitFor(
      "a frame from the server",
      () => (this.frames.length > 0 ? true : this.closed ? "connection closed" : `nothing yet (${this.inbox.length} bytes buffered)`),
      { timeout, abortIf: () => (this.closed && this.frames.length === 0 ? "the server closed the connection" : undefined) },
    );
    return this.frames.shift()!;
  }

  /** Frames received so far and not yet taken. */
  takeFrames(): RawFrame[] {
    return this.frames.splice(0);
  }

  /** Sends a request and waits for the control frame replying to its `id`; other frames are dropped. */
  async request(message: { id: number } & Record<string, unknown>, timeout = 10_000): Promise<Record<string, unknown>> {
    this.sendJson(message);
    for (;;) {
      const f = await this.nextFrame(timeout);
      if (f.json && f.json.id === message.id) return f.json;
    }
  }

  async waitClosed(timeout = 10_000): Promise<void> {
    await waitFor("the server to close the connection", () => (this.closed ? true : "still open"), { timeout });
  }

  close(): void {
    if (!this.closed) this.socket.end();
    this.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
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
    const merged = new Uint8Array(this.inbox.length + data.length);
    merged.set(this.inbox);
    merged.set(data, this.inbox.length);
    this.inbox = merged;
    while (this.inbox.length >= 8) {
      const length = Number(new DataView(this.inbox.buffer, this.inbox.byteOffset, 8).getBigUint64(0));
      if (this.inbox.length < 8 + length) break;
      const type = this.inbox[8]!;
      const body = this.inbox.slice(9, 8 + length);
      this.inbox = this.inbox.slice(8 + length);
      let json: Record<string, unknown> | undefined;
      if (type === FRAME_CONTROL) {
        try {
          json = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
      }
      this.frames.push({ type, body, json });
    }
  }
}

export interface ServerEntry {
  path: string;
  kind: "file" | "dir";
  size: number;
  mode: number;
  hash: string;
  version: number;
  deleted: boolean;
}

/** What the server holds now: every live entry, read with `hello` + `changes since 0` on a fresh connection. */
export async function serverEntries(port: number, host = "127.0.0.1"): Promise<Map<string, ServerEntry>> {
  await using conn = await RawConnection.open(host, port);
  const welcome = await conn.request({ type: "hello", id: 1, protocol: 1, clientId: `e2e-inspector-${crypto.randomUUID()}` });
  if (welcome.type !== "welcome") throw new Error(`Expected welcome, got ${JSON.stringify(welcome)}`);
  const latest = new Map<string, ServerEntry>();
  let since = 0;
  for (let id = 2; ; id++) {
    const reply = await conn.request({ type: "changes", id, since });
    if (reply.type !== "changes_result") throw new Error(`Expected changes_result, got ${JSON.stringify(reply)}`);
    const entries = reply.entries as ServerEntry[];
    for (const e of entries) {
      const prev = latest.get(e.path);
      if (!prev || prev.version < e.version) latest.set(e.path, e);
      since = Math.max(since, e.version);
    }
    if (!reply.more || entries.length === 0) break;
  }
  for (const [p, e] of latest) if (e.deleted) latest.delete(p);
  return latest;
}
