import { DropsimError } from "../core/errors.ts";

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

export function encodeFrame(type: FrameType, ...parts: Uint8Array[]): Uint8Array {
  let bodyLength = 0;
  for (const p of parts) bodyLength += p.length;
  const length = 1 + bodyLength;
  if (length > MAX_FRAME_BYTES) {
    throw new DropsimError("frame_too_large", `Cannot send a frame of ${length} bytes: the maximum is ${MAX_FRAME_BYTES}`);
  }
  const out = new Uint8Array(HEADER_BYTES + length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(length));
  out[HEADER_BYTES] = type;
  let offset = HEADER_BYTES + 1;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Reassembles frames from a byte stream cut at arbitrary points. */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  constructor(private readonly maxFrame = MAX_FRAME_BYTES) {}

  /** Feeds bytes; returns every frame completed by them. Throws DropsimError on a bad stream. */
  push(data: Uint8Array): Frame[] {
    if (data.length > 0) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
    const frames: Frame[] = [];
    while (this.buffered >= HEADER_BYTES) {
      const header = this.peek(HEADER_BYTES);
      const length = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getBigUint64(0);
      if (length === 0n) throw new DropsimError("bad_frame", "Received a frame of length 0: every frame has at least a type byte");
      if (length > BigInt(this.maxFrame)) {
        throw new DropsimError("frame_too_large", `Received a frame of ${length} bytes: the maximum is ${this.maxFrame}`);
      }
      const total = HEADER_BYTES + Number(length);
      if (this.buffered < total) break;
      const bytes = this.take(total);
      const type = bytes[HEADER_BYTES]!;
      if (type !== FrameType.control && type !== FrameType.block) {
        throw new DropsimError("bad_frame", `Received a frame of unknown type ${type}`);
      }
      frames.push({ type, body: bytes.subarray(HEADER_BYTES + 1) });
    }
    return frames;
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return this.copyOut(n, false);
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    return this.copyOut(n, true);
  }

  private copyOut(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let i = 0;
    while (filled < n) {
      const chunk = this.chunks[i]!;
      const want = Math.min(n - filled, chunk.length);
      out.set(chunk.subarray(0, want), filled);
      filled += want;
      if (consume) {
        if (want === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(want);
      } else i++;
    }
    if (consume) this.buffered -= n;
    return out;
  }
}
