import type { Socket } from "bun";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { serverToken } from "./spawn-dropsim.ts";
import { waitFor } from "./wait-for.ts";
import { controlFrame, FrameSplitter, type RawFrame, SendQueue } from "./wire-frames.ts";

/**
 * A bare TCP connection speaking dropsim's framing by hand (see wire-frames.ts), so it checks
 * the wire format from outside, and can send what a well-behaved client never would.
 */
export class RawConnection implements AsyncDisposable {
  private socket!: Socket<undefined>;
  private readonly splitter = new FrameSplitter();
  private readonly frames: RawFrame[] = [];
  private readonly outbox = new SendQueue((bytes) => this.socket.write(bytes), () => this.closed);
  closed = false;
  closeError: Error | undefined;
  /** Over TLS, the SHA256: fingerprint of the certificate the server showed. */
  fingerprint: string | undefined;

  /** Over TLS (1.3, any certificate: `fingerprint` says which), as servers speak by default, or plain TCP (`serve --insecure`, or speaking as an older client would). */
  static async open(host: string, port: number, opts: { tls?: boolean } = {}): Promise<RawConnection> {
    const tls = opts.tls ?? true;
    const conn = new RawConnection();
    const shaken = Promise.withResolvers<void>();
    const ended = (error?: Error) => {
      conn.closed = true;
      conn.closeError = error;
      shaken.reject(error ?? new Error(`The TLS handshake with ${host}:${port} did not complete`));
    };
    conn.socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      tls: tls ? { rejectUnauthorized: false } : undefined,
      socket: {
        binaryType: "uint8array",
        data: (_s, data) => conn.receive(data),
        drain: () => conn.outbox.flush(),
        handshake: (socket) => {
          const der = socket.getPeerX509Certificate()?.raw;
          if (der) conn.fingerprint = `SHA256:${new Bun.CryptoHasher("sha256").update(der).digest("hex")}`;
          shaken.resolve();
        },
        close: (_s, error) => ended(error),
        error: (_s, error) => ended(error),
        end: () => ended(),
      },
    });
    if (tls) await shaken.promise;
    else shaken.promise.catch(() => {});
    return conn;
  }

  /** Raw bytes, no framing added. */
  write(bytes: Uint8Array): void {
    this.outbox.write(bytes);
  }

  sendJson(message: unknown): void {
    this.write(controlFrame(message));
  }

  /** The next frame from the server (in arrival order). */
  async nextFrame(timeout = 10_000): Promise<RawFrame> {
    await waitFor(
      "a frame from the server",
      () => (this.frames.length > 0 ? true : this.closed ? "connection closed" : `nothing yet (${this.splitter.buffered} bytes buffered)`),
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

  private receive(data: Uint8Array): void {
    this.splitter.push(data);
    for (let f = this.splitter.next(); f; f = this.splitter.next()) this.frames.push(f);
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
export async function serverEntries(port: number, host = "127.0.0.1", opts: { tls?: boolean } = {}): Promise<Map<string, ServerEntry>> {
  await using conn = await RawConnection.open(host, port, opts);
  const welcome = await conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: `e2e-inspector-${crypto.randomUUID()}`, share: "default", token: serverToken(`${host}:${port}`) });
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
