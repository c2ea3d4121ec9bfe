import type { z } from "zod";
import { bytesToHex, HASH_BYTES, hexToBytes } from "../core/block-hash.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import type { Connection, ConnectionEvents } from "../runtime/types.ts";
import { allocFrame, encodeFrame, type Frame, FrameDecoder, FrameType } from "./frame-codec.ts";
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

/**
 * A block frame whose body (`size` bytes) the caller fills, then sends with `sendFrame`:
 * reading a block straight into it saves an allocation and a copy per block.
 */
export function blockFrame(hash: string, size: number): { frame: Uint8Array; body: Uint8Array } {
  const { frame, body } = allocFrame(FrameType.block, HASH_BYTES + size);
  body.set(hexToBytes(hash));
  return { frame, body: body.subarray(HASH_BYTES) };
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
  /** Bytes on the wire in each direction, frames included. */
  bytesIn = 0;
  bytesOut = 0;
  private lastReceived = Date.now();

  constructor(
    readonly conn: Connection,
    private readonly schemas: Record<string, z.ZodType>,
    private readonly handlers: PeerHandlers<In>,
  ) {}

  readonly events: ConnectionEvents = {
    data: (bytes) => this.receive(bytes),
    close: (error) => this.shutdown(error ?? new DropsimError("closed", "Connection closed")),
  };

  /** A peer that owes us replies and has sent nothing for `ms` is stalled (not merely idle). */
  stalledFor(now: number, ms: number): boolean {
    return this.pending.size > 0 && now - this.lastReceived > ms;
  }

  get isClosed(): boolean {
    return this.dead || this.conn.closed;
  }

  send(message: Out): void {
    this.sendFrame(encodeFrame(FrameType.control, encodeMessage(message)));
  }

  sendBlock(hash: string, bytes: Uint8Array): void {
    const { frame, body } = blockFrame(hash, bytes.length);
    body.set(bytes);
    this.sendFrame(frame);
  }

  /** Writes an already encoded frame (a push encoded once for many peers, a block read into its frame). */
  sendFrame(frame: Uint8Array): void {
    this.bytesOut += frame.length;
    this.conn.write(frame);
  }

  /** Sends a request and resolves with its reply; an `error` reply rejects with its code. */
  request<R extends In = In>(message: WithoutId<Out>): Promise<R> {
    if (this.isClosed) return Promise.reject(new DropsimError("closed", "Not connected"));
    const id = this.nextId++;
    // The clock for stalls starts when we start waiting, not at the last (possibly old) reply.
    if (this.pending.size === 0) this.lastReceived = Date.now();
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (m: In) => void, reject });
      this.send({ ...message, id } as Out);
    });
  }

  close(): void {
    this.conn.close();
  }

  private receive(bytes: Uint8Array): void {
    if (this.dead) return;
    this.bytesIn += bytes.length;
    this.lastReceived = Date.now();
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
    this.dead = true;
    for (const { reject } of this.pending.values()) reject(new DropsimError("closed", `Connection lost: ${describeError(error)}`));
    this.pending.clear();
    this.handlers.closed(error);
  }
}

function asDropsimError(e: unknown): DropsimError {
  return e instanceof DropsimError ? e : new DropsimError("internal", describeError(e), { cause: e });
}
