import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { bytesToHex, HASH_BYTES, HASH_HEX, hashBlock, hashBlockList, hexToBytes } from "../../src/core/block-hash.ts";
import { type ChunkParams, Chunker, chunkBytes, chunkParamsFor, DEFAULT_CHUNKING } from "../../src/core/chunker.ts";
import { concatBytes } from "../helpers/bytes.ts";

/** Deterministic bytes (xorshift32), so a failure reproduces. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function hashes(chunks: readonly Uint8Array[]): string[] {
  return chunks.map(hashBlock);
}

function assertSizes(chunks: readonly Uint8Array[], p: ChunkParams): void {
  chunks.forEach((c, i) => {
    expect(c.length).toBeLessThanOrEqual(p.max);
    if (i < chunks.length - 1) expect(c.length).toBeGreaterThanOrEqual(p.min);
    else expect(c.length).toBeGreaterThan(0);
  });
}

const SMALL: ChunkParams = { min: 256, avg: 1024, max: 4096 };
const MIB = 1024 * 1024;
const big = randomBytes(4 * MIB, 12345);

describe("chunkBytes", () => {
  test("chunkBytes gives no chunks for empty input", () => {
    expect(chunkBytes(new Uint8Array(0))).toEqual([]);
    const c = new Chunker(SMALL);
    expect(c.push(new Uint8Array(0))).toEqual([]);
    expect(c.finish()).toEqual([]);
  });

  test.each([1, 255, 256, 257, 1000, 4095, 4096, 4097, 10_000, 100_000])("chunkBytes of %p small-params bytes concatenates back to the input", (n) => {
    const data = randomBytes(n, n);
    const chunks = chunkBytes(data, SMALL);
    expect(concatBytes(chunks)).toEqual(data);
    assertSizes(chunks, SMALL);
  });

  test("chunkBytes keeps an input no larger than min as one chunk", () => {
    const data = randomBytes(SMALL.min, 7);
    const chunks = chunkBytes(data, SMALL);
    expect(chunks.length).toBe(1);
    expect(chunks[0]).toEqual(data);
  });

  test("chunkBytes with default params concatenates back, respects min/max and averages near avg", () => {
    const chunks = chunkBytes(big);
    expect(concatBytes(chunks)).toEqual(big);
    assertSizes(chunks, DEFAULT_CHUNKING);
    // Content-defined: boundaries are not all at max (which fixed-size chunking would give).
    expect(chunks.some((c, i) => i < chunks.length - 1 && c.length < DEFAULT_CHUNKING.max)).toBe(true);
    const mean = big.length / chunks.length;
    expect(mean).toBeGreaterThan(DEFAULT_CHUNKING.min);
    expect(mean).toBeLessThan(DEFAULT_CHUNKING.max);
  });

  test("chunkBytes cuts at max for data that never matches a mask", () => {
    const zeros = new Uint8Array(SMALL.max * 3 + 100);
    const chunks = chunkBytes(zeros, SMALL);
    expect(concatBytes(chunks)).toEqual(zeros);
    assertSizes(chunks, SMALL);
  });

  test("chunkBytes cuts where every earlier version cut (replicas must agree across versions)", () => {
    // Pinned from the chunker as first shipped: a change here breaks dedup with existing data.
    const lengths = chunkBytes(randomBytes(MIB, 7), chunkParamsFor(MIB)).map((c) => c.length);
    expect(lengths).toHaveLength(56);
    expect(lengths.slice(0, 8)).toEqual([19124, 21102, 12052, 7983, 21451, 23364, 22480, 18872]);
  });

  test("chunkBytes is deterministic", () => {
    const a = hashes(chunkBytes(big));
    const b = hashes(chunkBytes(big.slice()));
    expect(a).toEqual(b);
    const data = randomBytes(200_000, 99);
    expect(hashes(chunkBytes(data, SMALL))).toEqual(hashes(chunkBytes(data.slice(), SMALL)));
  });

  test("inserting 16 bytes in the middle of a 4 MiB buffer changes at most 3 chunk hashes", () => {
    const at = 2 * MIB + 12_345;
    const edited = concatBytes([big.subarray(0, at), randomBytes(16, 777), big.subarray(at)]);
    const before = hashes(chunkBytes(big));
    const after = hashes(chunkBytes(edited));
    expect(before.length).toBeGreaterThan(4);
    const old = new Set(before);
    const changed = after.filter((h) => !old.has(h)).length;
    expect(changed).toBeGreaterThanOrEqual(1);
    expect(changed).toBeLessThanOrEqual(3);
    // And the chunks before the edit are identical, in order.
    expect(after.slice(0, 3)).toEqual(before.slice(0, 3));
  });

  test("deleting bytes in the middle changes only the chunks around the edit", () => {
    const data = randomBytes(300_000, 4242);
    const edited = concatBytes([data.subarray(0, 150_000), data.subarray(150_100)]);
    const before = new Set(hashes(chunkBytes(data, SMALL)));
    const after = hashes(chunkBytes(edited, SMALL));
    expect(after.filter((h) => !before.has(h)).length).toBeLessThanOrEqual(3);
  });
});

describe("Chunker", () => {
  /** Feeds `data` in pieces whose sizes come from a seeded generator. */
  function streamed(data: Uint8Array, params: ChunkParams, seed: number, maxPiece: number): Uint8Array[] {
    const sizes = randomBytes(data.length, seed);
    const c = new Chunker(params);
    const out: Uint8Array[] = [];
    let pos = 0;
    let k = 0;
    while (pos < data.length) {
      const n = Math.min(data.length - pos, ((sizes[k++]! * 2654435761) >>> 0) % (maxPiece + 1));
      out.push(...c.push(data.subarray(pos, pos + n)));
      pos += n;
    }
    out.push(...c.finish());
    return out;
  }

  test.each([
    [1, 64],
    [2, 1000],
    [3, 5000],
    [4, 20_000],
  ])("Chunker.push in random pieces (seed %p, pieces up to %p bytes) gives the same chunks as chunkBytes", (seed, maxPiece) => {
    const data = randomBytes(120_000 + seed * 777, seed * 31);
    const whole = chunkBytes(data, SMALL);
    const pieces = streamed(data, SMALL, seed, maxPiece);
    expect(hashes(pieces)).toEqual(hashes(whole));
    expect(concatBytes(pieces)).toEqual(data);
  });

  test("Chunker.push with default params in random pieces matches chunkBytes on 4 MiB", () => {
    const whole = hashes(chunkBytes(big));
    expect(hashes(streamed(big, DEFAULT_CHUNKING, 9, 300_000))).toEqual(whole);
  });

  test("Chunker.push one byte at a time matches chunkBytes", () => {
    const data = randomBytes(3 * SMALL.max + 123, 8);
    const c = new Chunker(SMALL);
    const out: Uint8Array[] = [];
    for (let i = 0; i < data.length; i++) out.push(...c.push(data.subarray(i, i + 1)));
    out.push(...c.finish());
    expect(hashes(out)).toEqual(hashes(chunkBytes(data, SMALL)));
  });

  test("Chunker.push emits a chunk only once max bytes are visible", () => {
    const c = new Chunker(SMALL);
    expect(c.push(randomBytes(SMALL.max - 1, 3))).toEqual([]);
    expect(c.push(randomBytes(1, 4)).length).toBeGreaterThanOrEqual(1);
  });

  test("Chunker can be reused after finish", () => {
    const a = randomBytes(30_000, 21);
    const b = randomBytes(30_000, 22);
    const c = new Chunker(SMALL);
    const first = [...c.push(a), ...c.finish()];
    const second = [...c.push(b), ...c.finish()];
    expect(hashes(first)).toEqual(hashes(chunkBytes(a, SMALL)));
    expect(hashes(second)).toEqual(hashes(chunkBytes(b, SMALL)));
  });

  test("Chunker does not keep a reference to pushed buffers", () => {
    const data = randomBytes(SMALL.max * 2 + 500, 33);
    const expected = hashes(chunkBytes(data, SMALL));
    const c = new Chunker(SMALL);
    const piece = data.slice(0, 1000);
    const out = [...c.push(piece)];
    piece.fill(0); // the caller reuses its buffer
    out.push(...c.push(data.slice(1000)), ...c.finish());
    expect(hashes(out)).toEqual(expected);
  });
});

describe("block-hash", () => {
  test("hashBlock is the SHA-256 of the bytes in lowercase hex", () => {
    expect(hashBlock(new Uint8Array(0))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hashBlock(new TextEncoder().encode("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hashBlock(randomBytes(1000, 1))).toMatch(HASH_HEX);
  });

  test("hashBlock hashes only the view, not the whole underlying buffer", () => {
    const backing = randomBytes(100, 2);
    const view = backing.subarray(10, 20);
    expect(hashBlock(view)).toBe(hashBlock(backing.slice(10, 20)));
  });

  test("hashBlockList is the SHA-256 of the concatenated raw block hashes", () => {
    const hs = [hashBlock(randomBytes(10, 1)), hashBlock(randomBytes(10, 2))];
    const expected = createHash("sha256").update(Buffer.concat(hs.map((h) => Buffer.from(h, "hex")))).digest("hex");
    expect(hashBlockList(hs)).toBe(expected);
    expect(hashBlockList([])).toBe(hashBlock(new Uint8Array(0)));
  });

  test("hashBlockList depends on block order and on every block", () => {
    const a = hashBlock(randomBytes(10, 1));
    const b = hashBlock(randomBytes(10, 2));
    const c = hashBlock(randomBytes(10, 3));
    expect(hashBlockList([a, b])).not.toBe(hashBlockList([b, a]));
    expect(hashBlockList([a, b])).not.toBe(hashBlockList([a, c]));
    expect(hashBlockList([a, b])).not.toBe(hashBlockList([a]));
    expect(hashBlockList([a, b])).toBe(hashBlockList([a, b]));
  });

  test("hexToBytes and bytesToHex round-trip", () => {
    const h = hashBlock(randomBytes(50, 4));
    const raw = hexToBytes(h);
    expect(raw).toBeInstanceOf(Uint8Array);
    expect(raw.length).toBe(HASH_BYTES);
    expect(bytesToHex(raw)).toBe(h);
    const bytes = randomBytes(HASH_BYTES, 5);
    expect(hexToBytes(bytesToHex(bytes))).toEqual(bytes);
  });

  test("bytesToHex respects the view's offset and length", () => {
    const backing = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x01]);
    expect(bytesToHex(backing.subarray(1, 3))).toBe("adbe");
    expect(bytesToHex(new Uint8Array(0))).toBe("");
  });
});
