import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DropsimError } from "../../src/core/errors.ts";
import { encodeFrame, type Frame, FrameDecoder, FrameType, HEADER_BYTES, MAX_FRAME_BYTES } from "../../src/protocol/frame-codec.ts";
import { clientMessages, decodeMessage, serverMessages } from "../../src/protocol/messages.ts";
import { Peer } from "../../src/protocol/peer.ts";
import type { Connection } from "../../src/runtime/types.ts";
import { concatBytes } from "../helpers/bytes.ts";

// Property-based fuzzing of everything that reads bytes from the network: whatever arrives,
// in whatever pieces, the only thing that may be thrown is the decoder's own DropsimError, and
// a decoder never holds more than one maximal frame.

const SEED = Number(process.env.DROPSIM_FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.DROPSIM_FUZZ_RUNS ?? 500);
console.error(`[decoder-fuzz] seed ${SEED} (replay with DROPSIM_FUZZ_SEED=${SEED})`);

/** Cuts `bytes` at the given points (sorted, deduplicated, in range). */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    out.push(bytes.slice(prev, p));
    prev = p;
  }
  return out;
}

/** Byte strings that look like frames more often than uniform noise would. */
const frameish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 }))
    .map(([len, type, body]) => {
      const head = new Uint8Array(9);
      new DataView(head.buffer).setBigUint64(0, len);
      head[8] = type;
      return concatBytes([head, body]);
    }),
  fc.array(fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 100 })), { maxLength: 5 }).map((fs) => concatBytes(fs.map(([t, b]) => encodeFrame(t as 1 | 2, b)))),
);

describe("FrameDecoder under fuzzing", () => {
  test("any bytes in any pieces: frames, or a DropsimError, never anything else; pending bytes stay bounded", () => {
    fc.assert(
      fc.property(fc.array(frameish, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (streams, points) => {
        const decoder = new FrameDecoder();
        try {
          for (const piece of cut(concatBytes(streams), points)) {
            decoder.push(piece);
            expect(decoder.pendingBytes).toBeLessThanOrEqual(HEADER_BYTES + MAX_FRAME_BYTES);
          }
        } catch (e) {
          if (!(e instanceof DropsimError)) throw e;
          expect(["bad_frame", "frame_too_large"]).toContain(e.code);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test("valid frames cut anywhere decode to exactly the frames sent", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 500 })), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, points) => {
        const decoder = new FrameDecoder();
        const got: Frame[] = [];
        for (const piece of cut(concatBytes(frames.map(([t, b]) => encodeFrame(t as 1 | 2, b))), points)) got.push(...decoder.push(piece));
        expect(got.map((f) => [f.type, [...f.body]])).toEqual(frames.map(([t, b]) => [t, [...b]]));
        expect(decoder.pendingBytes).toBe(0);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });
});

describe("message decoding under fuzzing", () => {
  const jsonish = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({ type: fc.constantFrom(...Object.keys(clientMessages), ...Object.keys(serverMessages), "__proto__", "constructor"), id: fc.anything() }, { requiredKeys: ["type"] }),
    fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })).map((d) => ({ ...d, type: "apply", id: 1 })),
  );
  for (const [side, schemas] of [
    ["client", clientMessages],
    ["server", serverMessages],
  ] as const) {
    test(`any body decoded as a ${side} message: a valid message, or a DropsimError`, () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), jsonish.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "null"))), (body) => {
          try {
            const m = decodeMessage(schemas, body) as { type: string };
            expect(Object.keys(schemas)).toContain(m.type);
          } catch (e) {
            if (!(e instanceof DropsimError)) throw e;
          }
        }),
        { seed: SEED + 2, numRuns: RUNS },
      );
    });
  }
});

/** A connection that records what the peer writes and whether it hung up. */
function fakeConnection(): Connection & { written: number; hungUp: boolean } {
  return {
    remote: "fuzz",
    written: 0,
    hungUp: false,
    write(bytes: Uint8Array) {
      this.written += bytes.length;
    },
    queuedBytes: 0,
    drained: () => Promise.resolve(),
    pause() {},
    resume() {},
    close() {
      this.hungUp = true;
    },
    get closed() {
      return this.hungUp;
    },
  };
}

describe("Peer under fuzzing", () => {
  test("a peer fed any bytes never throws out of its data handler, and reports only DropsimErrors", () => {
    fc.assert(
      fc.property(fc.array(frameish, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (streams, points) => {
        const conn = fakeConnection();
        const errors: unknown[] = [];
        const peer = new Peer(conn, clientMessages, {
          message() {},
          block() {},
          protocolError: (e) => errors.push(e),
          closed() {},
        });
        for (const piece of cut(concatBytes(streams), points)) peer.events.data(piece);
        for (const e of errors) expect(e).toBeInstanceOf(DropsimError);
      }),
      { seed: SEED + 3, numRuns: RUNS },
    );
  });
});
