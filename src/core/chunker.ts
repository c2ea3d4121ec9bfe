/**
 * Content-defined chunking (FastCDC with normalized chunking, gear hash).
 * Cut points depend only on the bytes near them, so inserting bytes in the middle of a file
 * moves at most the block boundaries around the edit; every other block keeps its hash.
 */
export interface ChunkParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CHUNKING: ChunkParams = { min: 64 * 1024, avg: 256 * 1024, max: 1024 * 1024 };

const MIN_AVG = 16 * 1024;
const MAX_AVG = 1024 * 1024;
/** Files are cut into about this many blocks (between 2^13 and 2^14), until MIN_AVG/MAX_AVG bind. */
const BLOCKS_PER_FILE_LOG2 = 14;

/**
 * Chunk sizes for a file of `size` bytes. An edit costs about one average block on the wire,
 * and the block list grows as size/avg, so both stay small only if avg grows with the file:
 * 16 KiB blocks up to 256 MiB, then doubling with each doubling of size, 1 MiB from 16 GiB.
 * Sizes step at powers of two, so an edit that keeps a file within its power of two keeps its
 * cut points; only crossing one re-chunks it.
 */
export function chunkParamsFor(size: number): ChunkParams {
  const log2 = size > 0 ? Math.floor(Math.log2(size)) : 0;
  const avg = Math.min(MAX_AVG, Math.max(MIN_AVG, 2 ** (log2 - BLOCKS_PER_FILE_LOG2)));
  return { min: avg / 4, avg, max: avg * 4 };
}

/**
 * Fixed pseudo-random table (xorshift32 from a constant seed): every replica must cut identically.
 * Held as signed 32-bit values, like the masks: the hash keeps only its low 32 bits either way,
 * and int32 loads keep the gear loop in integer arithmetic (~2× faster than uint32 loads, which
 * JavaScriptCore turns into doubles above 2^31).
 */
const GEAR = (() => {
  const table = new Int32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x >>> 0;
  }
  return table;
})();

/** The top `bits` bits: bit k of the gear hash depends on the last k+1 bytes, so high bits see the widest window. */
function topMask(bits: number): number {
  return 0xffffffff << (32 - bits);
}

interface Masks {
  small: number;
  large: number;
}

function masksFor(p: ChunkParams): Masks {
  const bits = Math.round(Math.log2(p.avg));
  return { small: topMask(bits + 2), large: topMask(bits - 2) };
}

/** Length of the chunk starting at `start`, looking at no more than `end - start` bytes. */
function cutLength(buf: Uint8Array, start: number, end: number, p: ChunkParams, m: Masks): number {
  const n = end - start;
  if (n <= p.min) return n;
  const limit = start + Math.min(n, p.max);
  const normal = start + Math.min(n, p.avg);
  const gear = GEAR;
  const small = m.small;
  const large = m.large;
  let h = 0;
  let i = start + p.min;
  for (; i < normal; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0;
    if ((h & small) === 0) return i + 1 - start;
  }
  for (; i < limit; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0;
    if ((h & large) === 0) return i + 1 - start;
  }
  return limit - start;
}

/**
 * Cuts the chunks of `buf[start, end)` in order, calling `chunk(offset, length)` for each;
 * returns where the uncut rest begins. A cut is certain only once `max` bytes past its chunk's
 * start are visible, so unless `final` (the stream ends at `end`) fewer than `max` bytes are
 * left for the next call, which must see them again followed by the bytes after `end`.
 */
export function cutChunks(buf: Uint8Array, start: number, end: number, params: ChunkParams, final: boolean, chunk: (offset: number, length: number) => void): number {
  const masks = masksFor(params);
  let pos = start;
  while (final ? pos < end : end - pos >= params.max) {
    const len = cutLength(buf, pos, end, params, masks);
    chunk(pos, len);
    pos += len;
  }
  return pos;
}

/**
 * Splits a byte stream into chunks as it arrives. Returned chunks are views (no copy) of the
 * pushed bytes: use them before overwriting the buffer pushed. Nothing is kept past `push`.
 */
export class Chunker {
  private pending = new Uint8Array(0);

  constructor(private readonly params: ChunkParams = DEFAULT_CHUNKING) {}

  push(data: Uint8Array): Uint8Array[] {
    const buf = this.pending.length === 0 ? data : concat(this.pending, data);
    const out: Uint8Array[] = [];
    const pos = cutChunks(buf, 0, buf.length, this.params, false, (at, len) => out.push(buf.subarray(at, at + len)));
    // The remainder (under `max` bytes) is copied: the caller may reuse its buffer after push.
    this.pending = buf.slice(pos);
    return out;
  }

  finish(): Uint8Array[] {
    const buf = this.pending;
    this.pending = new Uint8Array(0);
    const out: Uint8Array[] = [];
    cutChunks(buf, 0, buf.length, this.params, true, (at, len) => out.push(buf.subarray(at, at + len)));
    return out;
  }
}

/** Chunks a whole in-memory buffer; for tests and tiny files. */
export function chunkBytes(data: Uint8Array, params: ChunkParams = DEFAULT_CHUNKING): Uint8Array[] {
  const c = new Chunker(params);
  return [...c.push(data), ...c.finish()];
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
