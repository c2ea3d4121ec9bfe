import { describe, expect, test } from "bun:test";
import { DropsimError } from "../../src/core/errors.ts";
import { encodeFrame, type Frame, FrameDecoder, FrameType, HEADER_BYTES, MAX_FRAME_BYTES } from "../../src/protocol/frame-codec.ts";
import { concatBytes } from "../helpers/bytes.ts";

const text = (s: string) => new TextEncoder().encode(s);

function header(length: bigint): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  new DataView(h.buffer).setBigUint64(0, length);
  return h;
}

function thrown(fn: () => unknown): DropsimError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DropsimError);
    return e as DropsimError;
  }
  throw new Error("expected a DropsimError, nothing was thrown");
}

/** Frames as plain values, so that equality ignores which buffer a body views. */
const plain = (frames: Frame[]) => frames.map((f) => ({ type: f.type, body: [...f.body] }));

describe("encodeFrame", () => {
  test("encodeFrame writes a big-endian length that counts the type byte and the body", () => {
    const f = encodeFrame(FrameType.control, text("hi"));
    expect([...f]).toEqual([0, 0, 0, 0, 0, 0, 0, 3, 1, 0x68, 0x69]);
  });

  test("encodeFrame concatenates several parts into one body", () => {
    const f = encodeFrame(FrameType.block, Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3));
    expect([...f]).toEqual([0, 0, 0, 0, 0, 0, 0, 4, 2, 1, 2, 3]);
  });

  test("encodeFrame writes a string part as UTF-8, its length counted in bytes", () => {
    const f = encodeFrame(FrameType.control, "é€", Uint8Array.of(7), "😀");
    expect([...f]).toEqual([0, 0, 0, 0, 0, 0, 0, 11, 1, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 7, 0xf0, 0x9f, 0x98, 0x80]);
  });

  test("encodeFrame of no body is a frame holding only the type byte", () => {
    expect([...encodeFrame(FrameType.control)]).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });

  test("encodeFrame refuses a frame over the maximum", () => {
    const err = thrown(() => encodeFrame(FrameType.block, new Uint8Array(MAX_FRAME_BYTES)));
    expect(err.code).toBe("frame_too_large");
    expect(err.message).toContain(String(MAX_FRAME_BYTES));
  });

  test("encodeFrame accepts a frame of exactly the maximum", () => {
    const f = encodeFrame(FrameType.block, new Uint8Array(MAX_FRAME_BYTES - 1));
    expect(f.length).toBe(HEADER_BYTES + MAX_FRAME_BYTES);
    const frames = new FrameDecoder().push(f);
    expect(frames.length).toBe(1);
    expect(frames[0]!.body.length).toBe(MAX_FRAME_BYTES - 1);
  });
});

describe("FrameDecoder", () => {
  const small = encodeFrame(FrameType.control, text('{"type":"bye"}'));
  const block = encodeFrame(FrameType.block, new Uint8Array(32).fill(7), text("data"));

  test("FrameDecoder decodes one whole frame", () => {
    const d = new FrameDecoder();
    expect(plain(d.push(small))).toEqual([{ type: 1, body: [...text('{"type":"bye"}')] }]);
    expect(d.pendingBytes).toBe(0);
  });

  test("FrameDecoder decodes a frame split at every possible point", () => {
    const stream = concatBytes([small, block]);
    const expected = plain(new FrameDecoder().push(stream));
    expect(expected.length).toBe(2);
    for (let i = 0; i <= stream.length; i++)
      for (const j of [i, Math.min(stream.length, i + 1), Math.min(stream.length, i + 9)]) {
        const d = new FrameDecoder();
        const got = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i, j)), ...d.push(stream.subarray(j))];
        expect(plain(got)).toEqual(expected);
        expect(d.pendingBytes).toBe(0);
      }
  });

  test("FrameDecoder decodes frames fed one byte at a time", () => {
    const stream = concatBytes([small, block, small]);
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < stream.length; i++) {
      const frames = d.push(stream.subarray(i, i + 1));
      // A frame completes exactly on its last byte.
      if (i === small.length - 1 || i === small.length + block.length - 1 || i === stream.length - 1) expect(frames.length).toBe(1);
      else expect(frames.length).toBe(0);
      got.push(...frames);
    }
    expect(plain(got)).toEqual(plain(new FrameDecoder().push(stream)));
    expect(got.map((f) => f.type)).toEqual([FrameType.control, FrameType.block, FrameType.control]);
  });

  test("FrameDecoder copes with a header split across chunks that each hold several frames", () => {
    const stream = concatBytes([small, small, block, block, small]);
    const d = new FrameDecoder();
    const cuts = [3, 20, 21, 22, 40, 60, 61, stream.length];
    const got: Frame[] = [];
    let prev = 0;
    for (const c of cuts) {
      got.push(...d.push(stream.subarray(prev, c)));
      prev = c;
    }
    expect(got.length).toBe(5);
    expect(plain(got)).toEqual(plain(new FrameDecoder().push(stream)));
  });

  test("FrameDecoder decodes many frames in one chunk", () => {
    const frames = Array.from({ length: 100 }, (_, i) => encodeFrame(i % 2 ? FrameType.block : FrameType.control, text(`frame ${i}`)));
    const got = new FrameDecoder().push(concatBytes(frames));
    expect(got.length).toBe(100);
    got.forEach((f, i) => {
      expect(f.type).toBe(i % 2 ? FrameType.block : FrameType.control);
      expect(new TextDecoder().decode(f.body)).toBe(`frame ${i}`);
    });
  });

  test("FrameDecoder keeps the bytes of an incomplete frame pending", () => {
    const d = new FrameDecoder();
    expect(d.push(concatBytes([small, block.subarray(0, 10)]))).toHaveLength(1);
    expect(d.pendingBytes).toBe(10);
    expect(d.push(block.subarray(10))).toHaveLength(1);
    expect(d.pendingBytes).toBe(0);
  });

  test("FrameDecoder ignores empty chunks", () => {
    const d = new FrameDecoder();
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.push(small.subarray(0, 4))).toEqual([]);
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.push(small.subarray(4))).toHaveLength(1);
  });

  test("FrameDecoder accepts a frame that holds only the type byte", () => {
    const got = new FrameDecoder().push(concatBytes([header(1n), Uint8Array.of(FrameType.control)]));
    expect(got).toHaveLength(1);
    expect(got[0]!.type).toBe(FrameType.control);
    expect(got[0]!.body.length).toBe(0);
  });

  test("FrameDecoder rejects a length of 0 as bad_frame", () => {
    const err = thrown(() => new FrameDecoder().push(header(0n)));
    expect(err.code).toBe("bad_frame");
    expect(err.message).toContain("length 0");
  });

  test("FrameDecoder rejects a length of 0 even when its header arrives in pieces", () => {
    const d = new FrameDecoder();
    const h = header(0n);
    expect(d.push(h.subarray(0, 5))).toEqual([]);
    expect(thrown(() => d.push(h.subarray(5))).code).toBe("bad_frame");
  });

  test.each([
    ["the maximum plus one", BigInt(MAX_FRAME_BYTES + 1)],
    ["2^32", 2n ** 32n],
    ["2^53 + 1", 2n ** 53n + 1n],
    ["2^63", 2n ** 63n],
    ["2^64 - 1", 2n ** 64n - 1n],
  ])("FrameDecoder rejects a length of %s as frame_too_large from the header alone", (_name, length) => {
    // Only the 8 header bytes are sent: the decoder must decide before waiting for (or allocating) the body.
    const d = new FrameDecoder();
    const err = thrown(() => d.push(header(length)));
    expect(err.code).toBe("frame_too_large");
    expect(err.message).toContain(String(length));
    expect(err.message).toContain(String(MAX_FRAME_BYTES));
  });

  test("FrameDecoder rejects an oversized frame after valid frames in the same chunk", () => {
    const d = new FrameDecoder();
    expect(thrown(() => d.push(concatBytes([small, header(2n ** 63n)]))).code).toBe("frame_too_large");
  });

  test("FrameDecoder enforces a smaller maximum given to it", () => {
    const d = new FrameDecoder(16);
    expect(d.push(encodeFrame(FrameType.control, new Uint8Array(15)))).toHaveLength(1);
    expect(thrown(() => d.push(header(17n))).code).toBe("frame_too_large");
  });

  test.each([0, 3, 255])("FrameDecoder rejects unknown frame type %p", (type) => {
    const err = thrown(() => new FrameDecoder().push(concatBytes([header(3n), Uint8Array.of(type, 1, 2)])));
    expect(err.code).toBe("bad_frame");
    expect(err.message).toContain(`unknown type ${type}`);
  });

  test("FrameDecoder holds memory in proportion to what arrived, not to what a header promises", () => {
    const d = new FrameDecoder();
    expect(d.push(header(BigInt(MAX_FRAME_BYTES)))).toEqual([]);
    expect(d.reservedBytes).toBe(64 * 1024);
    const piece = new Uint8Array(100 * 1024);
    piece[0] = FrameType.block;
    let received = 0;
    for (let i = 0; i < 10; i++) {
      d.push(piece.subarray(i === 0 ? 0 : 1));
      received += i === 0 ? piece.length : piece.length - 1;
      expect(d.pendingBytes).toBe(8 + received);
      expect(d.reservedBytes).toBeLessThanOrEqual(Math.max(64 * 1024, 2 * received));
    }
  });

  test("FrameDecoder bodies do not change when the pushed buffer is reused", () => {
    const d = new FrameDecoder();
    const frame = encodeFrame(FrameType.block, Uint8Array.of(1, 2, 3, 4, 5, 6));
    const chunk = new Uint8Array(frame.length + 4);
    chunk.set(frame);
    chunk.set(frame.subarray(0, 4), frame.length);
    const [first] = d.push(chunk);
    chunk.fill(0);
    chunk.set(frame.subarray(4));
    const [second] = d.push(chunk.subarray(0, frame.length - 4));
    expect([...first!.body]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...second!.body]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("FrameDecoder bodies keep their bytes when later chunks arrive", () => {
    const d = new FrameDecoder();
    const first = d.push(concatBytes([small, block.subarray(0, 5)]));
    const body = [...first[0]!.body];
    d.push(block.subarray(5));
    expect([...first[0]!.body]).toEqual(body);
  });
});
