import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import fc from "fast-check";
import { dumpLogs } from "../helpers/spawn-dropsim.ts";
import { RawConnection, serverEntries } from "../helpers/raw-client.ts";
import { snapshotTree } from "../helpers/tree.ts";
import { controlFrame, FRAME_BLOCK, FRAME_CONTROL, frame, frameHeader, MAX_FRAME_BYTES, type RawFrame } from "../helpers/wire-frames.ts";
import { expectFsckClean } from "../crash/_lib.ts";
import { DeafSocket, HostileRig, RssSampler, sha256File } from "./_lib.ts";

// Hostile bytes on raw sockets while two normal clients (A, B) keep syncing through the same
// server: run by server-input.test.ts over plain TCP and by server-input-tls.test.ts over TLS. For every case: the server answers with an error frame (or hangs up on that one
// connection), keeps running, keeps its memory bounded, logs a bounded number of lines,
// writes nothing outside its data dir, and A and B still exchange new files afterwards.

/** Every case against a server over TLS (raw sockets too), or over plain TCP (--insecure). */
export function serverInputSuite(opts: { tls: boolean }): void {
  setDefaultTimeout(90_000);

  /** Server memory may grow this much above its idle size during any one case (8 MiB frames are legal). */
  const RSS_HEADROOM_MIB = 256;
  const SEED = Number(process.env.DROPSIM_FUZZ_SEED ?? 0x5eed);

  let rig: HostileRig;
  let passwdHash: string;

  beforeAll(async () => {
    passwdHash = sha256File("/etc/passwd");
    rig = await HostileRig.start(opts);
  }, 90_000);

  afterAll(async () => {
    await rig?.[Symbol.asyncDispose]();
  }, 30_000);

  function open(): Promise<RawConnection> {
    return RawConnection.open("127.0.0.1", rig.server.port, { tls: rig.tls });
  }

  async function hello(conn: RawConnection, id = 1): Promise<void> {
    const welcome = await conn.request({ type: "hello", id, protocol: PROTOCOL_VERSION, clientId: `hostile-${crypto.randomUUID()}`, share: "default", token: rig.server.token });
    expect(welcome.type).toBe("welcome");
  }

  /** At most 8 at once: more connections from one IP than the 16 allowed to wait for hello would be refused busy. */
  async function inBatches(jobs: (() => Promise<void>)[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += 8) await Promise.all(jobs.slice(i, i + 8).map((job) => job()));
  }

  function hashOf(bytes: Uint8Array): string {
    return createHash("sha256").update(bytes).digest("hex");
  }

  function blockFrame(hash: string, bytes: Uint8Array): Uint8Array {
    const body = new Uint8Array(32 + bytes.length);
    body.set(Buffer.from(hash, "hex"), 0);
    body.set(bytes, 32);
    return frame(FRAME_BLOCK, body);
  }

  function isPush(f: RawFrame): boolean {
    return f.type === FRAME_CONTROL && f.json?.type === "changed";
  }

  function expectErrorFrame(f: RawFrame, id?: number): void {
    if (f.json?.type !== "error") throw new Error(`Expected an error frame, got type ${f.type}: ${new TextDecoder().decode(f.body).slice(0, 300)}`);
    expect(typeof f.json.code).toBe("string");
    expect(typeof f.json.message).toBe("string");
    expect((f.json.message as string).length).toBeGreaterThan(5);
    if (id !== undefined) expect(f.json.id).toBe(id);
  }

  /** The next frame that is not a push. */
  async function nextReply(conn: RawConnection, timeout = 15_000): Promise<RawFrame> {
    for (;;) {
      const f = await conn.nextFrame(timeout);
      if (!isPush(f)) return f;
    }
  }

  /**
   * Sends a harmless probe after something bad and waits until it is answered or the server
   * hangs up: a point where everything sent before has been dealt with. Returns the frames
   * received before the probe's reply (pushes dropped) and whether the connection closed.
   */
  async function settle(conn: RawConnection, probeId = 999_999): Promise<{ frames: RawFrame[]; closed: boolean }> {
    const frames: RawFrame[] = [];
    if (!conn.closed) conn.sendJson({ type: "changes", id: probeId, since: 1_000_000_000 });
    for (;;) {
      let f: RawFrame;
      try {
        f = await conn.nextFrame(15_000);
      } catch (e) {
        if (conn.closed) {
          frames.push(...conn.takeFrames().filter((x) => !isPush(x)));
          return { frames, closed: true };
        }
        throw e;
      }
      if (isPush(f)) continue;
      if (f.json?.id === probeId) return { frames, closed: false };
      frames.push(f);
    }
  }

  /** The common checks after every hostile case. */
  async function survives(tag: string, body: () => Promise<void>, opts: { maxLogLines?: number } = {}): Promise<void> {
    const mark = rig.serverLineCount();
    const rss = new RssSampler(rig.server.pid!);
    try {
      await body();
      expect(rig.server.running).toBe(true);
      await rig.stillSyncing(tag);
      const peak = rss.stop();
      if (peak > rig.baselineRss + RSS_HEADROOM_MIB) {
        throw new Error(`Server memory peaked at ${peak.toFixed(0)} MiB during "${tag}" (idle: ${rig.baselineRss.toFixed(0)} MiB, allowed headroom ${RSS_HEADROOM_MIB} MiB)`);
      }
      await rig.assertSandboxClean();
      expect(sha256File("/etc/passwd")).toBe(passwdHash);
      const added = rig.serverLinesSince(mark);
      const max = opts.maxLogLines ?? 40;
      if (added.length > max) throw new Error(`The server logged ${added.length} lines for "${tag}" (at most ${max} expected):\n${added.slice(0, 20).join("\n")}`);
    } catch (e) {
      rss.stop();
      dumpLogs(rig.processes, 60);
      throw e;
    }
  }

  const putFile = (p: string, blocks: [string, number][] = [], extra: Record<string, unknown> = {}) => ({
    op: "put",
    path: p,
    kind: "file",
    baseVersion: 0,
    size: blocks.reduce((n, [, s]) => n + s, 0),
    mode: 0o644,
    hash: hashBlockList(blocks.map(([h]) => h)),
    blocks,
    mtime: 0,
    ...extra,
  });

  /**
   * How the server's framing must treat `bytes`: how many complete frames they hold, whether a
   * header or type byte in them is invalid (a hang-up), and how many zero bytes complete a
   * frame left open at the end (its missing type byte then reads as 0, which is invalid).
   */
  function framingOf(bytes: Uint8Array): { frames: number; hangUp: boolean; pad: number } {
    let pos = 0;
    let frames = 0;
    while (pos < bytes.length) {
      const header = new Uint8Array(8);
      header.set(bytes.subarray(pos, pos + 8));
      const length = new DataView(header.buffer).getBigUint64(0);
      const avail = bytes.length - pos;
      if (avail < 8) {
        const pad = 8 - avail;
        if (length === 0n || length > BigInt(MAX_FRAME_BYTES)) return { frames, hangUp: true, pad };
        return { frames, hangUp: true, pad: pad + Number(length) }; // the type byte is a padding zero
      }
      if (length === 0n || length > BigInt(MAX_FRAME_BYTES)) return { frames, hangUp: true, pad: 0 };
      const type = avail > 8 ? bytes[pos + 8]! : 0;
      const end = 8 + Number(length);
      if (avail < end) return { frames, hangUp: type !== FRAME_CONTROL && type !== FRAME_BLOCK, pad: end - avail };
      if (type !== FRAME_CONTROL && type !== FRAME_BLOCK) return { frames, hangUp: true, pad: 0 };
      frames++;
      pos += end;
    }
    return { frames, hangUp: false, pad: 0 };
  }

  function hashBlockList(hashes: string[]): string {
    const h = createHash("sha256");
    for (const x of hashes) h.update(Buffer.from(x, "hex"));
    return h.digest("hex");
  }

  describe("framing attacks", () => {
    test("random bytes on fresh connections get an error per frame or a hang-up, never a crash", async () => {
      await survives("random-bytes", async () => {
        const samples = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 2048 }), { seed: SEED, numRuns: 32 });
        await inBatches(
          samples.map((bytes, i) => async () => {
            await using conn = await open();
            if (i % 2 === 1) await hello(conn);
            // Random bytes may end inside a frame the server rightly waits for: complete it
            // with zeros so that the probe after them is read as a frame of its own.
            const outcome = framingOf(bytes);
            conn.write(bytes);
            if (outcome.pad > 0) conn.write(new Uint8Array(outcome.pad));
            const { frames, closed } = await settle(conn);
            for (const f of frames) expectErrorFrame(f);
            if (outcome.hangUp) expect(closed).toBe(true);
            else {
              expect(closed).toBe(false);
              expect(frames.length).toBe(outcome.frames);
            }
          }),
        );
      }, { maxLogLines: 200 });
    });

    test("random well-framed garbage (any type byte, any body) gets one error per frame or a hang-up", async () => {
      await survives("framed-garbage", async () => {
        const arb = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 512 }));
        const samples = fc.sample(fc.array(arb, { minLength: 1, maxLength: 6 }), { seed: SEED + 1, numRuns: 24 });
        await inBatches(
          samples.map((frames, i) => async () => {
            await using conn = await open();
            if (i % 3 !== 0) await hello(conn);
            for (const [type, body] of frames) {
              // Some of them are JSON-ish to get past the first checks.
              const b = type % 2 === 0 ? new TextEncoder().encode(`{"type":"changes","id":${i},"since":${JSON.stringify(Buffer.from(body).toString("latin1"))}}`) : body;
              conn.write(frame(type === 1 || type === 2 ? type : type % 7, b));
            }
            const { frames: got, closed } = await settle(conn);
            for (const f of got) expectErrorFrame(f);
            const hangUp = frames.some(([type]) => type !== 1 && type !== 2 && type % 7 !== 1 && type % 7 !== 2);
            expect(closed).toBe(hangUp);
            if (!closed) expect(got.length).toBe(frames.length);
          }),
        );
      }, { maxLogLines: 200 });
    });

    test("a length header of 2^63 and of 2^64-1 each get a hang-up", async () => {
      await survives("huge-length", async () => {
        for (const length of [2n ** 63n, 2n ** 64n - 1n]) {
          await using conn = await open();
          await hello(conn);
          conn.write(frameHeader(length));
          conn.write(new Uint8Array(4096));
          const { frames, closed } = await settle(conn);
          expect(closed).toBe(true);
          for (const f of frames) expectErrorFrame(f);
        }
      });
    });

    test("a length one byte over the maximum gets a hang-up, before its body is sent", async () => {
      await survives("over-max", async () => {
        await using conn = await open();
        await hello(conn);
        conn.write(frameHeader(MAX_FRAME_BYTES + 1));
        await conn.waitClosed(15_000);
        for (const f of conn.takeFrames().filter((f) => !isPush(f))) expectErrorFrame(f);
      });
    });

    test("a frame of exactly the maximum length with a junk body gets an error and the connection stays usable", async () => {
      await survives("exactly-max", async () => {
        await using conn = await open();
        await hello(conn);
        const body = new Uint8Array(MAX_FRAME_BYTES - 1).fill(0x20);
        body[0] = 0x7b; // "{" then spaces: invalid JSON, 8 MiB of it
        conn.write(frame(FRAME_CONTROL, body));
        const { frames, closed } = await settle(conn);
        expect(closed).toBe(false);
        expect(frames.length).toBe(1);
        expectErrorFrame(frames[0]!);
      });
    });

    test("a zero length header gets a hang-up", async () => {
      await survives("zero-length", async () => {
        await using conn = await open();
        conn.write(frameHeader(0));
        const { closed } = await settle(conn);
        expect(closed).toBe(true);
      });
    });

    test("truncated frames then silence on many connections: nothing else is held up, memory stays bounded", async () => {
      await survives("truncated", async () => {
        const conns: RawConnection[] = [];
        try {
          for (let i = 0; i < 12; i++) {
            const conn = await open();
            conns.push(conn);
            if (i % 2 === 0) await hello(conn);
            // A header promising a maximal frame, most of it, then nothing more.
            conn.write(frameHeader(MAX_FRAME_BYTES));
            conn.write(new Uint8Array([FRAME_CONTROL]));
            conn.write(new Uint8Array(i % 3 === 0 ? MAX_FRAME_BYTES - 2 : 100).fill(0x20));
          }
          // Meanwhile a fresh connection is served at once, and A and B sync (checked by survives).
          await using other = await open();
          await hello(other);
          const r = await other.request({ type: "changes", id: 2, since: 0 });
          expect(r.type).toBe("changes_result");
          // Those that never authenticated sent more than 16 KiB: they are hung up on.
          await rig.waitFor("the unauthenticated ones closed", () => conns.every((c, i) => c.closed === (i % 2 === 1)) || conns.map((c) => c.closed).join());
        } finally {
          for (const c of conns) c.close();
        }
      });
    });
  });

  describe("control messages that are not what they claim", () => {
    test("invalid UTF-8, invalid JSON, non-objects and deeply nested JSON each get an error frame", async () => {
      await survives("bad-json", async () => {
        await using conn = await open();
        await hello(conn);
        const bodies: Uint8Array[] = [
          new Uint8Array([0xff, 0xfe, 0xfd]),
          new Uint8Array([0x7b, 0x22, 0x74, 0xc3, 0x28, 0x22, 0x7d]), // {"t\xc3(" }: broken UTF-8 sequence
          new TextEncoder().encode('{"type":"changes","id":7,"since":'),
          new TextEncoder().encode("not json"),
          new TextEncoder().encode("[1,2,3]"),
          new TextEncoder().encode("null"),
          new TextEncoder().encode('"changes"'),
          new TextEncoder().encode(`{"type":"changes","id":8,"since":0,"x":${"[".repeat(200_000)}${"]".repeat(200_000)}}`),
          new Uint8Array(0),
        ];
        for (const b of bodies) conn.write(frame(FRAME_CONTROL, b));
        const { frames, closed } = await settle(conn);
        expect(closed).toBe(false);
        expect(frames.length).toBe(bodies.length);
        for (const f of frames) expectErrorFrame(f);
      });
    });

    test("wrong field types, missing fields and extra fields each get an error naming the request", async () => {
      await survives("bad-fields", async () => {
        await using conn = await open();
        const before: [Record<string, unknown>, number | undefined][] = [
          [{ type: "hello", id: 1, protocol: "1", clientId: "x" }, 1],
          [{ type: "hello", id: 2, protocol: 1 }, 2],
          [{ type: "hello", id: 3, protocol: 1, clientId: "" }, 3],
          [{ type: "hello", id: 4, protocol: 1, clientId: "x".repeat(10_000) }, 4],
          [{ type: "hello", id: 5, protocol: 1, clientId: "x", admin: true }, 5],
          [{ type: "changes", id: 6, since: 0 }, 6], // before hello: not_ready
        ];
        for (const [m] of before) conn.sendJson(m);
        for (const [, id] of before) expectErrorFrame(await nextReply(conn), id);
        await hello(conn, 10);
        const after: [Record<string, unknown>, number | undefined][] = [
          [{ type: "changes", id: 11, since: "0" }, 11],
          [{ type: "changes", id: 12, since: -1 }, 12],
          [{ type: "changes", id: 13, since: 1.5 }, 13],
          [{ type: "changes", id: 14 }, 14],
          [{ type: "changes", id: 15, since: 0, limit: 0 }, 15],
          [{ type: "changes", id: 16, since: 0, limit: 1e9 }, 16],
          [{ type: "changes", id: 17, since: 0, extra: 1 }, 17],
          [{ type: "changes", id: "18", since: 0 }, undefined],
          [{ type: "changes", id: -19, since: 0 }, undefined],
          [{ type: "has_blocks", id: 20, hashes: "abc" }, 20],
          [{ type: "has_blocks", id: 21, hashes: ["ABC"] }, 21],
          [{ type: "has_blocks", id: 22, hashes: Array(10_001).fill("0".repeat(64)) }, 22],
          [{ type: "get_blocks", id: 23, hashes: [1, 2] }, 23],
          [{ type: "apply", id: 24, ops: [] }, 24],
          [{ type: "apply", id: 25, ops: [{ op: "put" }] }, 25],
          [{ type: "apply", id: 26, ops: [{ op: "chmod", path: "x" }] }, 26],
          [{ type: "apply", id: 27, ops: [{ ...putFile("ok.txt"), size: -1 }] }, 27],
          [{ type: "apply", id: 28, ops: [{ ...putFile("ok.txt"), mode: 0o777777 }] }, 28],
          [{ type: "apply", id: 29, ops: [{ ...putFile("ok.txt"), kind: "symlink" }] }, 29],
          [{ type: "apply", id: 30, ops: [{ ...putFile("ok.txt"), blocks: [["0".repeat(64), 0]] }] }, 30],
          [{ type: "apply", id: 31, ops: [{ ...putFile("ok.txt"), owner: "root" }] }, 31],
          [{ type: "apply", id: 32, ops: [{ op: "delete", path: "ok.txt" }] }, 32],
          [{ type: "apply", id: 33, ops: [{ op: "move", from: "a", to: "b", baseVersion: "1" }] }, 33],
          [JSON.parse('{"type":"changes","id":34,"since":0,"__proto__":{"polluted":true}}'), 34],
          [{ type: "bye", id: 35 }, 35],
        ];
        for (const [m] of after) conn.sendJson(m);
        for (const [m, id] of after) {
          const f = await nextReply(conn);
          if (f.json?.type !== "error") throw new Error(`${JSON.stringify(m).slice(0, 200)} was answered ${JSON.stringify(f.json).slice(0, 300)}`);
          expectErrorFrame(f, id);
        }
        // The connection is still usable, and nothing was committed.
        const r = await conn.request({ type: "changes", id: 99, since: 0 });
        expect(r.type).toBe("changes_result");
        expect((await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls })).has("ok.txt")).toBe(false);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });
    });

    test("unknown message types, including Object.prototype names and huge ones, get unknown_type", async () => {
      await survives("unknown-types", async () => {
        await using conn = await open();
        await hello(conn);
        const types = ["format_disk", "__proto__", "constructor", "toString", "hasOwnProperty", "welcome", "changed", "x".repeat(1_000_000)];
        types.forEach((type, i) => conn.sendJson({ type, id: 100 + i }));
        for (let i = 0; i < types.length; i++) {
          const f = await nextReply(conn);
          expectErrorFrame(f, 100 + i);
          expect(f.json?.code).toBe("unknown_type");
          expect((f.json?.message as string).length).toBeLessThan(500);
        }
      });
    });
  });

  describe("blocks and commits", () => {
    test("a block whose bytes do not match its hash is refused and never stored", async () => {
      await survives("bad-block", async () => {
        await using conn = await open();
        const real = new Uint8Array(randomBytes(5000));
        const claimed = hashOf(real);
        const forged = new Uint8Array(real);
        forged[0] = forged[0]! ^ 1;
        conn.write(blockFrame(claimed, forged)); // before hello
        expectErrorFrame(await nextReply(conn));
        await hello(conn);
        conn.write(blockFrame(claimed, forged));
        expectErrorFrame(await nextReply(conn));
        conn.write(frame(FRAME_BLOCK, new Uint8Array(10))); // shorter than a hash
        expectErrorFrame(await nextReply(conn));
        const missing = await conn.request({ type: "has_blocks", id: 5, hashes: [claimed] });
        expect(missing.hashes).toEqual([claimed]);
        const applied = await conn.request({ type: "apply", id: 6, ops: [putFile("forged.bin", [[claimed, real.length]])] });
        const result = (applied.results as { status: string; code?: string }[])[0]!;
        expect(result.status).toBe("error");
        expect(result.code).toBe("missing_blocks");
        expect((await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls })).has("forged.bin")).toBe(false);
      });
    });

    test("a commit referring to blocks never uploaded gets missing_blocks and commits nothing", async () => {
      await survives("missing-blocks", async () => {
        await using conn = await open();
        await hello(conn);
        const ghost = hashOf(new Uint8Array(randomBytes(64)));
        const applied = await conn.request({ type: "apply", id: 2, ops: [putFile("ghost.bin", [[ghost, 100]]), putFile("ghost-dir/inner.bin", [[ghost, 100]])] });
        for (const r of applied.results as { status: string; code?: string }[]) {
          expect(r.status).toBe("error");
          expect(r.code).toBe("missing_blocks");
        }
        const entries = await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls });
        expect(entries.has("ghost.bin")).toBe(false);
        expect(entries.has("ghost-dir")).toBe(false);
        expect(entries.has("ghost-dir/inner.bin")).toBe(false);
      });
    });

    test("a commit whose size disagrees with its blocks is refused", async () => {
      await survives("bad-size", async () => {
        await using conn = await open();
        await hello(conn);
        const bytes = new Uint8Array(randomBytes(1000));
        const h = hashOf(bytes);
        conn.write(blockFrame(h, bytes));
        const applied = await conn.request({ type: "apply", id: 2, ops: [{ ...putFile("sized.bin", [[h, 1000]]), size: 1001 }] });
        expect((applied.results as { status: string }[])[0]!.status).toBe("error");
        expect((await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls })).has("sized.bin")).toBe(false);
      });
    });

    // A client may claim any content hash for a block list. The server stores the claim, other
    // replicas record it as the synced state, and the data dir no longer passes fsck.
    test("a commit whose content hash does not match its block list is refused (fsck stays clean)", async () => {
      await survives("lying-hash", async () => {
        await using conn = await open();
        await hello(conn);
        const bytes = new Uint8Array(randomBytes(1000));
        const h = hashOf(bytes);
        conn.write(blockFrame(h, bytes));
        const lie = { ...putFile("lying-hash.bin", [[h, 1000]]), hash: "ab".repeat(32) };
        const applied = await conn.request({ type: "apply", id: 2, ops: [lie] });
        const result = (applied.results as { status: string }[])[0]!;
        try {
          expect(result.status).toBe("error");
          expect((await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls })).has("lying-hash.bin")).toBe(false);
          await expectFsckClean(rig.dataDir);
        } finally {
          // Leave the shared server clean for the other cases.
          const cur = (await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls })).get("lying-hash.bin");
          if (cur) await conn.request({ type: "apply", id: 3, ops: [{ op: "delete", path: "lying-hash.bin", baseVersion: cur.version }] });
        }
      });
    });
  });

  describe("paths", () => {
    const hostile = [
      "../../etc/passwd",
      "../x",
      "/abs",
      "/etc/passwd",
      "C:\\x",
      "C:x",
      "a\\..\\..\\b",
      "a/../../b",
      "a/./b",
      "a//b",
      "a/",
      ".",
      "..",
      "",
      "a\u0000b",
      "x".repeat(10_000),
      `${"a/".repeat(2100)}a`,
      ".dropsim/state.db",
      ".dropsim",
      ".dropsim/tmp/evil",
    ];

    // Refused op by op: a batch holding one bad path still commits its other ops (issue 9).
    const beside = "beside-hostile-paths.txt";

    test("every hostile path in put, delete and move is refused and nothing lands anywhere", async () => {
      await survives("paths", async () => {
        await using conn = await open();
        await hello(conn);
        const bytes = new TextEncoder().encode("owned\n");
        const h = hashOf(bytes);
        conn.write(blockFrame(h, bytes));
        let id = 100;
        const sent: [number, string][] = [];
        for (const p of hostile) {
          for (const op of [putFile(p, [[h, bytes.length]]), { ...putFile(p), kind: "dir", hash: "" }, { op: "delete", path: p, baseVersion: 1 }, { op: "move", from: "nothing-here", to: p, baseVersion: 1 }, { op: "move", from: p, to: "stolen", baseVersion: 1 }]) {
            conn.sendJson({ type: "apply", id, ops: [op] });
            sent.push([id++, `${(op as { op: string }).op} ${JSON.stringify(p).slice(0, 40)}`]);
          }
          // Hidden behind a good op in one batch: only the bad op is refused.
          conn.sendJson({ type: "apply", id, ops: [putFile(beside, [[h, bytes.length]]), putFile(p, [[h, bytes.length]])] });
          sent.push([id++, `batch with ${JSON.stringify(p).slice(0, 40)}`]);
        }
        for (const [want, what] of sent) {
          const f = await nextReply(conn);
          const results = f.json?.type === "applied" && f.json.id === want ? (f.json.results as { status: string; code?: string }[]) : [];
          const verdicts = results.map((r) => `${r.status} ${r.code ?? ""}`.trim());
          const expected = what.startsWith("batch") ? ["ok", "error bad_path"] : ["error bad_path"];
          if (JSON.stringify(verdicts) !== JSON.stringify(expected)) throw new Error(`${what} was answered ${JSON.stringify(f.json).slice(0, 300)}`);
        }
        const entries = await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls });
        for (const p of entries.keys()) {
          expect(p.includes("..")).toBe(false);
          expect(p.startsWith("/")).toBe(false);
          expect(p.startsWith(".dropsim")).toBe(false);
          expect(p.includes("\\")).toBe(false);
          expect(p.includes("\u0000")).toBe(false);
        }
        expect(entries.has(beside)).toBe(true);
        expect(entries.has("stolen")).toBe(false);
        expect(fs.existsSync("/abs")).toBe(false);
        // Nor did anything reach the clients' folders.
        for (const c of [rig.a, rig.b]) {
          const tree = await snapshotTree(c.folder);
          for (const p of tree.keys()) expect(p === beside || p.startsWith("alive-") || p.startsWith("a-alive-") || p.startsWith("b-alive-")).toBe(true);
          expect(fs.existsSync(`${c.folder}/.dropsim/tmp/evil`)).toBe(false);
        }
      }, { maxLogLines: 300 });
    });
  });

  describe("floods", () => {
    test("thousands of block downloads requested without reading are paced, not buffered", async () => {
      await survives("slow-block-reader", async () => {
        // One 1 MiB block on the server, then 2000 requests for it (2 GB if all were queued).
        const bytes = new Uint8Array(randomBytes(1024 * 1024));
        const h = hashOf(bytes);
        {
          await using conn = await open();
          await hello(conn);
          conn.write(blockFrame(h, bytes));
          const r = await conn.request({ type: "apply", id: 2, ops: [putFile("one-mib.bin", [[h, bytes.length]])] });
          expect((r.results as { status: string }[])[0]!.status).toBe("ok");
        }
        const deaf = await DeafSocket.open(rig.server.port, { tls: rig.tls });
        const rss = new RssSampler(rig.server.pid!);
        try {
          const parts = [controlFrame({ type: "hello", id: 1, protocol: 1, clientId: "deaf-blocks" })];
          for (let i = 0; i < 2000; i++) parts.push(controlFrame({ type: "get_blocks", id: i + 2, hashes: [h] }));
          deaf.write(Buffer.concat(parts));
          const until = performance.now() + 3000;
          while (performance.now() < until && !deaf.closed) {
            if (rss.sample() > rig.baselineRss + RSS_HEADROOM_MIB) break;
            await Bun.sleep(50);
          }
          expect(rss.stop()).toBeLessThan(rig.baselineRss + RSS_HEADROOM_MIB);
        } finally {
          rss.stop();
          deaf.close();
        }
        // Remove the file again (A and B downloaded it meanwhile).
        await using conn = await open();
        await hello(conn);
        const cur = (await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls })).get("one-mib.bin")!;
        await conn.request({ type: "apply", id: 3, ops: [{ op: "delete", path: "one-mib.bin", baseVersion: cur.version }] });
      });
    });

    test("hundreds of idle connections that never say hello: all but 16 are told busy at once, and nobody else is stopped", async () => {
      await survives("idle-connections", async () => {
        const conns = await Promise.all(Array.from({ length: 200 }, () => open()));
        try {
          await rig.waitFor("all but 16 closed", () => conns.filter((c) => !c.closed).length === 16 || `${conns.filter((c) => !c.closed).length} open`);
          const told = conns.filter((c) => c.closed).flatMap((c) => c.takeFrames());
          expect(told.length).toBeGreaterThan(0);
          for (const f of told) expect(f.json).toMatchObject({ type: "error", code: "busy" });
        } finally {
          for (const c of conns) c.close();
        }
        // Their places are free again once they are gone.
        await rig.waitFor("a new connection served", async () => {
          await using other = await open();
          const welcome = await other.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: "after-flood", share: "default", token: rig.server.token });
          return welcome.type === "welcome" || JSON.stringify(welcome);
        });
      });
    });

    test("after everything, the data dir passes fsck", async () => {
      await expectFsckClean(rig.dataDir);
    });
  });

  // Last: when it fails, the server's memory stays high and would spoil the other cases' bounds.
  describe("a reader that does not read", () => {
    test("a slow reader sending thousands of requests without reading replies cannot grow server memory without bound", async () => {
      // Give `changes since 0` something to say: 1000 folders with long names (~350 KB per reply).
      const names = Array.from({ length: 1000 }, (_, i) => `flood-${String(i).padStart(4, "0")}-${"x".repeat(200)}`);
      {
        await using conn = await open();
        await hello(conn);
        const r = await conn.request({ type: "apply", id: 2, ops: names.map((p) => ({ ...putFile(p), kind: "dir", hash: "" })) }, 30_000);
        expect((r.results as { status: string }[]).every((x) => x.status === "ok")).toBe(true);
      }
      try {
        await survives("slow-reader", async () => {
          const deaf = await DeafSocket.open(rig.server.port, { tls: rig.tls });
          const rss = new RssSampler(rig.server.pid!);
          try {
            const parts = [controlFrame({ type: "hello", id: 1, protocol: 1, clientId: "deaf" })];
            for (let i = 0; i < 2000; i++) parts.push(controlFrame({ type: "changes", id: i + 2, since: 0 }));
            deaf.write(Buffer.concat(parts));
            // A slow reader is slow: give the server 4 s with nobody reading. It may hang up on
            // us, or stop reading our requests; it may not buffer ~700 MB of replies.
            const until = performance.now() + 4000;
            while (performance.now() < until && !deaf.closed) {
              if (rss.sample() > rig.baselineRss + RSS_HEADROOM_MIB) break;
              await Bun.sleep(50);
            }
            const peak = rss.stop();
            if (peak > rig.baselineRss + RSS_HEADROOM_MIB) {
              throw new Error(
                `Server memory reached ${peak.toFixed(0)} MiB (idle ${rig.baselineRss.toFixed(0)} MiB) while a client that reads nothing sent 2000 ` +
                  `"changes since 0" requests (~350 KB reply each): replies are queued without limit instead of the session being paused or closed`,
              );
            }
          } finally {
            rss.stop();
            deaf.close();
          }
        }, { maxLogLines: 20 });
      } finally {
        // Remove the filler so the other cases see a small tree.
        await using conn = await open();
        await hello(conn);
        const current = await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls });
        const ops = names.flatMap((p) => {
          const e = current.get(p);
          return e ? [{ op: "delete", path: p, baseVersion: e.version }] : [];
        });
        if (ops.length > 0) await conn.request({ type: "apply", id: 3, ops }, 30_000);
      }
    });
  });

  describe("paths that are .dropsim/ elsewhere", () => {
    // On a case-insensitive file system (macOS and Windows defaults) ".DROPSIM/state.db" *is* the
    // client's state database, so wirePathProblem compares the first segment case-insensitively.
    test("case variants of .dropsim (.DROPSIM, .Dropsim) are refused like .dropsim itself", async () => {
      await survives("dropsim-case", async () => {
        await using conn = await open();
        await hello(conn);
        const bytes = new TextEncoder().encode("not a database\n");
        const h = hashOf(bytes);
        conn.write(blockFrame(h, bytes));
        const variants = [".DROPSIM/state.db", ".Dropsim/state.db", ".DropSim"];
        const results: string[] = [];
        let id = 500;
        for (const p of variants) {
          const f = await conn.request({ type: "apply", id: id++, ops: [putFile(p, [[h, bytes.length]])] });
          const r = f.type === "applied" ? (f.results as { status: string }[])[0]!.status : String(f.type);
          results.push(`${p}: ${r}`);
        }
        // Undo whatever was accepted, so the shared clients are left as they were.
        const entries = await serverEntries(rig.server.port, "127.0.0.1", { tls: rig.tls });
        const undo = [...entries.values()]
          .filter((e) => e.path.toLowerCase().startsWith(".dropsim"))
          .sort((a, b) => b.path.length - a.path.length)
          .map((e) => ({ op: "delete", path: e.path, baseVersion: e.version }));
        for (const op of undo) await conn.request({ type: "apply", id: id++, ops: [op] });
        expect(results).toEqual(variants.map((p) => `${p}: error`));
      });
    });
  });
}
