import { DropsimError, describeError, type ErrorCode } from "../core/errors.ts";
import { type ClientMessage, type MessageOf, PROTOCOL_VERSION, type ServerMessage, serverMessages } from "../protocol/messages.ts";
import { DEFAULT_HEARTBEAT, type HeartbeatTimes, Peer } from "../protocol/peer.ts";
import type { Connection, Runtime } from "../runtime/types.ts";
import type { Emit } from "./events.ts";

export type ServerPeer = Peer<ServerMessage, ClientMessage>;
export type Changed = MessageOf<ServerMessage, "changed">;
export type Welcome = MessageOf<ServerMessage, "welcome">;

export interface LinkHandlers {
  /** `fingerprint`: the certificate the server showed, now pinned if nothing was (undefined over plain TCP). */
  connected(peer: ServerPeer, welcome: Welcome, fingerprint: string | undefined): void;
  changed(message: Changed): void;
  block(hash: string, bytes: Uint8Array): void;
  disconnected(error: Error): void;
  /** Trying again cannot help (a refused token, another server identity): the link has stopped for good. */
  gaveUp(error: DropsimError, presented: string | undefined): void;
}

/** Who we are to the server and who it must be to us. */
export interface LinkIdentity {
  clientId: string;
  host: string;
  share?: string;
  token?: string;
  /** TLS 1.3, the server's certificate checked against the pin; false only for plain TCP to loopback (--insecure). */
  tls: boolean;
  /** The certificate to insist on; undefined: trust the first one shown (and pin it from then on). */
  fingerprint?: string;
}

/**
 * Refusals that say this folder's credentials or the server's identity are wrong, or that we
 * cannot speak to it: the same hello would be refused again, so the client stops and says why.
 */
const FINAL: ReadonlySet<string> = new Set<ErrorCode>([
  "no_token",
  "unknown_token",
  "revoked",
  "expired",
  "wrong_share",
  "fingerprint_mismatch",
  "tls_required",
  "protocol_mismatch",
]);

export function isFinal(e: unknown): e is DropsimError {
  return e instanceof DropsimError && FINAL.has(e.code);
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
  /** A final refusal the server sent on its own (a token revoked mid-session): said when the connection closes. */
  private refusal: DropsimError | undefined;
  private pinned: string | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly address: { host: string; port: number },
    private readonly hello: LinkIdentity,
    private readonly emit: Emit,
    private readonly handlers: LinkHandlers,
    private readonly heartbeat: HeartbeatTimes = DEFAULT_HEARTBEAT,
  ) {
    this.pinned = hello.fingerprint;
  }

  get current(): ServerPeer | undefined {
    return this.peer;
  }

  start(): void {
    void this.connect();
  }

  /** Stops for good and tells the client why; once. */
  giveUp(error: DropsimError, presented?: string): void {
    if (this.stopped) return;
    this.stop();
    this.handlers.gaveUp(error, presented);
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
    let presented: string | undefined;
    this.refusal = undefined;
    try {
      const { peer, welcome } = await openSession(
        this.runtime,
        this.address,
        { ...this.hello, fingerprint: this.pinned },
        (conn) => {
          const p: ServerPeer = new Peer(conn, serverMessages, {
            message: (m) => {
              if (m.type === "changed") this.handlers.changed(m);
              else if (m.type === "error" && FINAL.has(m.code)) this.refusal = new DropsimError(m.code as ErrorCode, m.message);
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
          return p;
        },
        (fingerprint) => (presented = fingerprint),
      );
      if (this.stopped) return peer.close();
      this.attempt = 0;
      this.peer = peer;
      this.pinned ??= presented;
      this.emit({ type: "connected", server: this.label, serverId: welcome.serverId, head: welcome.head, reconnected: this.wasConnected });
      this.wasConnected = true;
      this.handlers.connected(peer, welcome, presented);
    } catch (e) {
      // A refusal sent on its own (a TLS-only server's to plaintext) fails the hello as a hang-up.
      const final = isFinal(e) ? e : this.refusal;
      if (final) return this.giveUp(final, presented);
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
    if (this.refusal) return this.giveUp(this.refusal);
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

/**
 * Connects, checks the server's certificate against `identity.fingerprint` (if any) BEFORE
 * anything is sent, so the token goes to no one but the server the folder trusts, and says
 * hello. `makePeer` attaches the caller's handlers; `presented` hears the certificate shown,
 * even when the check then fails. The peer is closed if anything fails.
 */
export async function openSession(
  runtime: Runtime,
  address: { host: string; port: number },
  identity: LinkIdentity,
  makePeer: (conn: Connection) => ServerPeer,
  presented: (fingerprint: string | undefined) => void = () => {},
): Promise<{ peer: ServerPeer; welcome: Welcome }> {
  let peer: ServerPeer | undefined;
  try {
    const conn = await runtime.tcp.connect(address.host, address.port, (c) => (peer = makePeer(c)).events, identity.tls);
    presented(conn.peerFingerprint);
    _checkIdentity(address, identity, conn.peerFingerprint);
    const welcome = await peer!.request<Welcome>({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      clientId: identity.clientId,
      host: identity.host,
      share: identity.share,
      token: identity.token,
    });
    return { peer: peer!, welcome };
  } catch (e) {
    peer?.close();
    throw e;
  }
}

/** Throws unless the certificate the server showed is the one pinned (nothing to check over plain TCP, or before a pin). */
function _checkIdentity(address: { host: string; port: number }, identity: LinkIdentity, presented: string | undefined): void {
  const label = `${address.host}:${address.port}`;
  if (identity.tls && presented === undefined) throw new DropsimError("tls", `The TLS connection to ${label} shows no certificate to check`);
  if (presented === undefined || identity.fingerprint === undefined || presented === identity.fingerprint) return;
  throw new DropsimError("fingerprint_mismatch", `The server at ${label} presented certificate ${presented}, not ${identity.fingerprint} that this folder trusts`);
}
