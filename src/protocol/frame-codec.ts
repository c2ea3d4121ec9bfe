import { Buffer } from "node:buffer";
import { DropsimError } from "../core/errors.ts";
import { release } from "../core/release.ts";

/**
 * Frame = 8-byte big-endian length N, then N bytes: 1 byte frame type, then the body.
 * The length is checked against the maximum before anything is allocated for it.
 */
export const HEADER_BYTES = 8;
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export const FrameType = { control: 1, block: 2 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  type: FrameType;
  body: Uint8Array;
}

/**
 * A frame whose body is `parts` end to end; a string part is written as UTF-8 straight into the
 * frame. A control message is a string: the commit of a big file is a MiB of JSON, and encoding
 * it to bytes first was one more MiB per message on the server.
 */
export function encodeFrame(type: FrameType, ...parts: (Uint8Array | string)[]): Uint8Array {
  let bodyLength = 0;
  for (const p of parts) bodyLength += typeof p === "string" ? Buffer.byteLength(p, "utf8") : p.length;
  const frame = new Uint8Array(frameLength(bodyLength));
  const body = writeFrameHeader(frame, type);
  let offset = 0;
  for (const p of parts) {
    if (typeof p === "string") offset += encoder.encodeInto(p, body.subarray(offset)).written;
    else {
      body.set(p, offset);
      offset += p.length;
    }
  }
  return frame;
}

const encoder = new TextEncoder();

/** Bytes on the wire of a frame whose body is `bodyLength` bytes; refused past the maximum. */
export function frameLength(bodyLength: number): number {
  const length = 1 + bodyLength;
  if (length > MAX_FRAME_BYTES) {
    throw new DropsimError("frame_too_large", `Cannot send a frame of ${length} bytes: the maximum is ${MAX_FRAME_BYTES}`);
  }
  return HEADER_BYTES + length;
}

/** Writes the header and type into `frame` (sized by `frameLength`); returns the body to fill. */
export function writeFrameHeader(frame: Uint8Array, type: FrameType): Uint8Array {
  new DataView(frame.buffer, frame.byteOffset, HEADER_BYTES).setBigUint64(0, BigInt(frame.length - HEADER_BYTES));
  frame[HEADER_BYTES] = type;
  return frame.subarray(HEADER_BYTES + 1);
}

/** Memory reserved for a frame before its bytes arrive; beyond it, the buffer grows as they do. */
const FIRST_RESERVE = 64 * 1024;

/**
 * Reassembles frames from a byte stream cut at arbitrary points. Bytes are copied into the
 * buffer of the frame they belong to, and nowhere else: the caller may reuse what it pushed as
 * soon as `push` returns, nothing keeps a whole socket read alive for one small frame in it,
 * and a stream of block frames costs about one allocation per frame. The buffer of a frame still arriving grows with
 * what arrived (doubling), so a header that promises 8 MiB and then goes silent holds 64 KiB.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER_BYTES);
  private headerFilled = 0;
  /** Length (type byte and body) of the frame being filled, 0 while reading a header. */
  private length = 0;
  private frame = new Uint8Array(0);
  private frameFilled = 0;

  constructor(private readonly maxFrame = MAX_FRAME_BYTES) {}

  /** Feeds bytes; returns every frame completed by them. Throws DropsimError on a bad stream. */
  push(data: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let pos = 0;
    while (pos < data.length) {
      if (this.length === 0) {
        const n = Math.min(HEADER_BYTES - this.headerFilled, data.length - pos);
        this.header.set(data.subarray(pos, pos + n), this.headerFilled);
        this.headerFilled += n;
        pos += n;
        if (this.headerFilled < HEADER_BYTES) break;
        this.headerFilled = 0;
        this.length = this.checkedLength();
        this.frame = new Uint8Array(Math.min(this.length, Math.max(FIRST_RESERVE, data.length - pos)));
        this.frameFilled = 0;
        continue;
      }
      const n = Math.min(this.length - this.frameFilled, data.length - pos);
      if (this.frameFilled === 0) checkType(data[pos]!);
      if (this.frameFilled + n > this.frame.length) this.grow(this.frameFilled + n);
      this.frame.set(data.subarray(pos, pos + n), this.frameFilled);
      this.frameFilled += n;
      pos += n;
      if (this.frameFilled < this.length) break;
      const frame = this.frame;
      this.length = 0;
      this.frame = new Uint8Array(0);
      frames.push({ type: frame[0] as FrameType, body: frame.subarray(1) });
    }
    return frames;
  }

  /** Bytes received for a frame not yet complete. */
  get pendingBytes(): number {
    return this.length === 0 ? this.headerFilled : HEADER_BYTES + this.frameFilled;
  }

  /** Memory held for the frame not yet complete: never more than twice what arrived, or 64 KiB. */
  get reservedBytes(): number {
    return this.frame.length;
  }

  private grow(needed: number): void {
    const bigger = new Uint8Array(Math.min(this.length, Math.max(needed, 2 * this.frame.length)));
    bigger.set(this.frame.subarray(0, this.frameFilled));
    // Only the decoder ever saw it: freed now, not at the next collection (a 512 KiB block
    // arriving in pieces leaves 64 + 128 + 256 KiB behind).
    release(this.frame.buffer);
    this.frame = bigger;
  }

  /** The length in the header, refused before anything is allocated for it. */
  private checkedLength(): number {
    const length = new DataView(this.header.buffer).getBigUint64(0);
    if (length === 0n) throw new DropsimError("bad_frame", "Received a frame of length 0: every frame has at least a type byte");
    if (length > BigInt(this.maxFrame)) {
      throw new DropsimError("frame_too_large", `Received a frame of ${length} bytes: the maximum is ${this.maxFrame}`);
    }
    return Number(length);
  }
}

function checkType(type: number): void {
  if (type !== FrameType.control && type !== FrameType.block) {
    throw new DropsimError("bad_frame", `Received a frame of unknown type ${type}`);
  }
}
