import type { z } from "zod";
import { bytesToHex, HASH_BYTES, hexToBytes } from "../core/block-hash.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import type { Connection, ConnectionEvents } from "../runtime/types.ts";
import { encodeFrame, type Frame, FrameDecoder, frameLength, FrameType, writeFrameHeader } from "./frame-codec.ts";
import { decodeMessage, encodeMessage, salvageId, type ClientMessage, type ServerMessage } from "./messages.ts";

type Message = ClientMessage | ServerMessage;
type WithoutId<M> = M extends unknown ? Omit<M, "id"> : never;

export interface PeerHandlers<In> {
  /** A control message that is not the reply to one of our requests; `size` is its frame's. */
  message(message: In, size: number): void;
  block(hash: string, bytes: Uint8Array): void;
  /** The peer broke the protocol; `id` is the request it was answering or making, if known. */
  protocolError(error: DropsimError, id: number | undefined): void;
  closed(error?: Error): void;
}

/** Consecutive block frames laid out in one buffer, with each frame's body to fill. */
export interface BlockFrames {
  /** Every frame, end to end: written to the socket at once. */
  bytes: Uint8Array;
  /** Each block's frame within `bytes`, for sending only some of them. */
  frames: Uint8Array[];
  /** Each block's bytes within its frame: read straight into them. */
  bodies: Uint8Array[];
}

/**
 * Frames for a run of blocks in one allocation: a run read with one `readv` into the bodies and
 * sent with one write costs one allocation and two system calls instead of one each per block
 * (W2: 16,384 blocks of 32 KiB for 512 MiB).
 */
export function blockFrames(blocks: readonly (readonly [hash: string, size: number])[]): BlockFrames {
  let total = 0;
  for (const [, size] of blocks) total += frameLength(HASH_BYTES + size);
  const bytes = new Uint8Array(total);
  const frames: Uint8Array[] = [];
  const bodies: Uint8Array[] = [];
  let at = 0;
  for (const [hash, size] of blocks) {
    const frame = bytes.subarray(at, at + frameLength(HASH_BYTES + size));
    const body = writeFrameHeader(frame, FrameType.block);
    body.set(hexToBytes(hash));
    frames.push(frame);
    bodies.push(body.subarray(HASH_BYTES));
    at += frame.length;
  }
  return { bytes, frames, bodies };
}

/** How the side that pings keeps a quiet connection honest (see `heartbeatStep`). */
export interface HeartbeatTimes {
  /** Ping after this long without hearing from the peer, or without saying anything to it. */
  pingAfterMs: number;
  /** Give up after this long without hearing anything, once a ping has had `pingAfterMs` to be answered. */
  deadAfterMs: number;
}

/** Noticed within 30 s (the link checks 5 times per ping interval: 25 s + 2 s late pinging + 2 s late judging). */
export const DEFAULT_HEARTBEAT: HeartbeatTimes = { pingAfterMs: 10_000, deadAfterMs: 25_000 };

/** When a connection last heard from its peer and said something to it (ms, `Date.now()`). */
export interface Liveness {
  heardAt: number;
  saidAt: number;
  pingedAt: number;
  /** When the first ping since the peer was last heard went out, if one did. */
  unansweredSince: number | undefined;
}

/**
 * What keeping a connection alive calls for at `now`. A peer that vanished without a FIN or RST
 * (a laptop asleep, a changed network, a NAT that forgot us) never closes the socket: only its
 * silence shows it. Silence alone is no verdict, though: after our own process slept or was
 * busy, the peer is first asked (a ping) and given `pingAfterMs` to answer. Pinging also when we
 * have said nothing for a while lets the peer tell an idle client from a gone one.
 */
export function heartbeatStep(now: number, l: Liveness, t: HeartbeatTimes): "ping" | "dead" | undefined {
  const unheard = now - l.heardAt;
  if (unheard >= t.deadAfterMs && l.unansweredSince !== undefined && now - l.unansweredSince >= t.pingAfterMs) return "dead";
  if (now - l.pingedAt >= t.pingAfterMs && (unheard >= t.pingAfterMs || now - l.saidAt >= t.pingAfterMs)) return "ping";
  return undefined;
}

/**
 * One end of a connection: frames in and out, request ids, replies matched to requests.
 * It knows nothing of storage or sync; many requests may be in flight on one socket.
 */
export class Peer<In extends Message, Out extends Message> {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, { resolve(m: In): void; reject(e: Error): void }>();
  private nextId = 1;
  private dead = false;
  /** `handlers.closed` was called: once, however the connection ended. */
  private ended = false;
  /** Bytes on the wire in each direction, frames included. */
  bytesIn = 0;
  bytesOut = 0;
  private readonly liveness: Liveness = { heardAt: Date.now(), saidAt: Date.now(), pingedAt: Date.now(), unansweredSince: undefined };

  constructor(
    readonly conn: Connection,
    private readonly schemas: Record<string, z.ZodType>,
    private readonly handlers: PeerHandlers<In>,
  ) {}

  readonly events: ConnectionEvents = {
    data: (bytes) => this.receive(bytes),
    close: (error) => this.shutdown(error ?? new DropsimError("closed", "Connection closed")),
  };

  /** When any byte last arrived (ms, `Date.now()`). */
  get heardAt(): number {
    return this.liveness.heardAt;
  }

  /**
   * Called on a timer by the side that pings: sends `ping` when the connection has been quiet
   * (see `heartbeatStep`), and returns true once the peer counts as gone.
   */
  heartbeat(now: number, times: HeartbeatTimes, ping: WithoutId<Out>): boolean {
    const step = heartbeatStep(now, this.liveness, times);
    if (step === "ping") {
      this.liveness.pingedAt = now;
      this.liveness.unansweredSince ??= now;
      // Any frame back proves life: the pong, or the error of a server that predates ping.
      this.request(ping).catch(() => {});
    }
    return step === "dead";
  }

  get isClosed(): boolean {
    return this.dead || this.conn.closed;
  }

  send(message: Out): void {
    this.sendFrame(encodeFrame(FrameType.control, encodeMessage(message)));
  }

  sendBlock(hash: string, bytes: Uint8Array): void {
    const { bytes: frame, bodies } = blockFrames([[hash, bytes.length]]);
    bodies[0]!.set(bytes);
    this.sendFrame(frame);
  }

  /**
   * Writes already encoded frames (a push encoded once for many peers, blocks read into their
   * frames); `transient` when the caller never uses them again (see Connection.write).
   */
  sendFrame(frame: Uint8Array, transient = false): void {
    this.bytesOut += frame.length;
    this.liveness.saidAt = Date.now();
    this.conn.write(frame, transient);
  }

  /** Sends a request and resolves with its reply; an `error` reply rejects with its code. */
  request<R extends In = In>(message: WithoutId<Out>): Promise<R> {
    if (this.isClosed) return Promise.reject(new DropsimError("closed", "Not connected"));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (m: In) => void, reject });
      this.send({ ...message, id } as Out);
    });
  }

  close(): void {
    this.conn.close();
  }

  /**
   * Hangs up on a peer that went silent. What waits on it fails now, not when the socket
   * finally closes: closing politely waits for a FIN that a vanished peer never sends.
   */
  abandon(error: Error): void {
    // Before closing, which may report the close at once with a vaguer reason.
    this.shutdown(error);
    this.conn.close();
  }

  private receive(bytes: Uint8Array): void {
    if (this.dead) return;
    this.bytesIn += bytes.length;
    this.liveness.heardAt = Date.now();
    this.liveness.unansweredSince = undefined;
    let frames: Frame[];
    try {
      frames = this.decoder.push(bytes);
    } catch (e) {
      // The stream cannot be re-synchronised after a bad header: report, then hang up.
      this.handlers.protocolError(asDropsimError(e), undefined);
      this.dead = true;
      this.conn.close();
      return;
    }
    for (const frame of frames) this.dispatch(frame);
  }

  private dispatch(frame: Frame): void {
    if (frame.type === FrameType.block) {
      if (frame.body.length < HASH_BYTES) {
        this.handlers.protocolError(new DropsimError("bad_frame", "Received a block frame shorter than its 32-byte hash"), undefined);
        return;
      }
      this.handlers.block(bytesToHex(frame.body.subarray(0, HASH_BYTES)), frame.body.subarray(HASH_BYTES));
      return;
    }
    let message: In;
    try {
      message = decodeMessage(this.schemas, frame.body) as In;
    } catch (e) {
      const id = salvageId(frame.body);
      const error = asDropsimError(e);
      const waiting = id === undefined ? undefined : this.pending.get(id);
      if (waiting) {
        this.pending.delete(id!);
        waiting.reject(error);
      }
      this.handlers.protocolError(error, id);
      return;
    }
    const id = (message as { id?: number }).id;
    const waiting = id === undefined ? undefined : this.pending.get(id);
    if (!waiting) return this.handlers.message(message, frame.body.length);
    this.pending.delete(id!);
    if (message.type === "error") {
      const { code, message: text } = message as Extract<ServerMessage, { type: "error" }>;
      waiting.reject(new DropsimError(code as DropsimError["code"], text));
    } else waiting.resolve(message);
  }

  private shutdown(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.dead = true;
    for (const { reject } of this.pending.values()) reject(new DropsimError("closed", `Connection lost: ${describeError(error)}`));
    this.pending.clear();
    this.handlers.closed(error);
  }
}

function asDropsimError(e: unknown): DropsimError {
  return e instanceof DropsimError ? e : new DropsimError("internal", describeError(e), { cause: e });
}
