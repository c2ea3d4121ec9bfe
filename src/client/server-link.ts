import { DropsimError, describeError } from "../core/errors.ts";
import { type ClientMessage, type MessageOf, PROTOCOL_VERSION, type ServerMessage, serverMessages } from "../protocol/messages.ts";
import { DEFAULT_HEARTBEAT, type HeartbeatTimes, Peer } from "../protocol/peer.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Emit } from "./events.ts";

export type ServerPeer = Peer<ServerMessage, ClientMessage>;
export type Changed = MessageOf<ServerMessage, "changed">;
export type Welcome = MessageOf<ServerMessage, "welcome">;

export interface LinkHandlers {
  connected(peer: ServerPeer, welcome: Welcome): void;
  changed(message: Changed): void;
  block(hash: string, bytes: Uint8Array): void;
  disconnected(error: Error): void;
}

export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 15_000;
/**
 * Reconnecting never waits longer than this, so that sync resumes within 5 s of the network
 * coming back (issue 9, item 19). A refused or unreachable connect costs next to nothing.
 */
export const RECONNECT_MAX_MS = 4_000;
/** Heartbeat checks per ping interval: how late a ping or a verdict can be, as a share of it. */
const HEARTBEAT_CHECKS = 5;

/** Exponential backoff with jitter: spreads reconnecting clients so a restarted server is not stampeded. */
export function backoffDelay(attempt: number, maxMs = BACKOFF_MAX_MS, random = Math.random): number {
  const ceiling = Math.min(maxMs, BACKOFF_MIN_MS * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Keeps one connection to the server alive: connect, hello, and reconnect when it drops. */
export class ServerLink {
  private peer: ServerPeer | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wasConnected = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly address: { host: string; port: number },
    private readonly hello: { clientId: string; host: string; share?: string; token?: string },
    private readonly emit: Emit,
    private readonly handlers: LinkHandlers,
    private readonly heartbeat: HeartbeatTimes = DEFAULT_HEARTBEAT,
  ) {}

  get current(): ServerPeer | undefined {
    return this.peer;
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.peer && !this.peer.isClosed) {
      this.peer.send({ type: "bye" });
      this.peer.close();
    }
  }

  private get label(): string {
    return `${this.address.host}:${this.address.port}`;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let peer: ServerPeer | undefined;
    try {
      await this.runtime.tcp.connect(this.address.host, this.address.port, (conn) => {
        const p: ServerPeer = new Peer(conn, serverMessages, {
          message: (m) => {
            if (m.type === "changed") this.handlers.changed(m);
            else if (m.type === "error") this.emit({ type: "server_said", message: m.message });
          },
          block: (hash, bytes) => this.handlers.block(hash, bytes),
          protocolError: (e) => this.emit({ type: "server_invalid", reason: e.message }),
          closed: (error) => {
            clearInterval(checks);
            this.lost(p, error ?? new DropsimError("closed", "Connection closed"));
          },
        });
        const checks = this.keepAlive(p);
        peer = p;
        return p.events;
      });
      const welcome = await peer!.request<MessageOf<ServerMessage, "welcome">>({
        type: "hello",
        protocol: PROTOCOL_VERSION,
        clientId: this.hello.clientId,
        host: this.hello.host,
        share: this.hello.share,
        token: this.hello.token,
      });
      if (this.stopped) return peer!.close();
      this.attempt = 0;
      this.peer = peer;
      this.emit({ type: "connected", server: this.label, serverId: welcome.serverId, head: welcome.head, reconnected: this.wasConnected });
      this.wasConnected = true;
      this.handlers.connected(peer!, welcome);
    } catch (e) {
      peer?.close();
      if (e instanceof DropsimError && e.code === "protocol_mismatch") {
        this.emit({ type: "incompatible", message: e.message });
        return;
      }
      this.retry(e);
    }
  }

  /**
   * Pings a quiet server and abandons a silent one (see protocol/peer.ts `heartbeatStep`). From
   * the first byte on: a hello can be swallowed by a dead network as well as any request.
   */
  private keepAlive(peer: ServerPeer): ReturnType<typeof setInterval> {
    const checks = setInterval(() => {
      const now = Date.now();
      if (!peer.heartbeat(now, this.heartbeat, { type: "ping" })) return;
      const silent = ((now - peer.heardAt) / 1000).toFixed(1);
      peer.abandon(new DropsimError("closed", `No answer from the server for ${silent} s: the connection is dead`));
    }, this.heartbeat.pingAfterMs / HEARTBEAT_CHECKS);
    checks.unref?.();
    return checks;
  }

  private lost(peer: ServerPeer, error: Error): void {
    if (this.peer !== peer) return;
    this.peer = undefined;
    this.handlers.disconnected(error);
    if (this.stopped) return;
    this.emit({ type: "disconnected", server: this.label, reason: describeError(error) });
    this.retry(error);
  }

  private retry(error: unknown): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, RECONNECT_MAX_MS);
    this.emit({ type: "unreachable", server: this.label, reason: describeError(error), retryInMs: delay, firstAttempt: this.attempt === 1 });
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}
