import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { RawConnection, serverEntries } from "../helpers/raw-client.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { sha256, writeFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { controlFrame, frame, frameHeader, MAX_FRAME_BYTES, type RawFrame } from "../helpers/wire-frames.ts";

// Hostile bytes on a raw socket, while a normal pair of clients keeps syncing through the
// same server. Each bad input gets an error frame, or (for a broken frame stream) a hang-up;
// the server never crashes and other sessions never notice.
setDefaultTimeout(60_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

function open(): Promise<RawConnection> {
  return RawConnection.open("127.0.0.1", cluster().server.port);
}

async function hello(conn: RawConnection): Promise<void> {
  const welcome = await conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: `e2e-bad-input-${crypto.randomUUID()}`, share: "default", token: cluster().server.token });
  expect(welcome.type).toBe("welcome");
  expect(welcome.protocol).toBe(PROTOCOL_VERSION);
}

function expectErrorFrame(f: RawFrame, id?: number): void {
  expect(f.type).toBe(1);
  expect(f.json?.type).toBe("error");
  expect(typeof f.json?.code).toBe("string");
  expect(typeof f.json?.message).toBe("string");
  expect((f.json?.message as string).length).toBeGreaterThan(0);
  if (id !== undefined) expect(f.json?.id).toBe(id);
}

/** Waits for the next error frame, skipping pushes (`changed`) the server may send meanwhile. */
async function nextError(conn: RawConnection): Promise<RawFrame> {
  for (;;) {
    const f = await conn.nextFrame();
    if (f.type === 1 && f.json?.type === "changed") continue;
    return f;
  }
}

/** A broken frame stream: the server may send an error frame, and must hang up. */
async function expectHangUp(conn: RawConnection): Promise<void> {
  await conn.waitClosed();
  for (const f of conn.takeFrames()) {
    if (f.type === 1 && f.json?.type === "changed") continue;
    expectErrorFrame(f);
  }
}

/** The server still runs and the normal pair still syncs. */
async function stillSyncing(tag: string): Promise<void> {
  const content = `written on A after ${tag}\n`;
  await writeFile(cluster().path("A"), `after-${tag}.txt`, content);
  await cluster().waitFor(`after-${tag}.txt to reach B`, async () => (await cluster().snapshot("B")).get(`after-${tag}.txt`) === sha256(content) || "not yet on B");
}

describe("the server given bad input", () => {
  test(
    "a length header one byte over the maximum gets an error and a hang-up",
    dumpLogsOnFailure(async () => {
      await using conn = await open();
      await hello(conn);
      conn.write(frameHeader(MAX_FRAME_BYTES + 1));
      conn.write(new Uint8Array([1, 0x7b]));
      await expectHangUp(conn);
      await stillSyncing("over-max");
    }),
  );

  test(
    "a length header of 2^63 gets an error and a hang-up, before any hello",
    dumpLogsOnFailure(async () => {
      await using conn = await open();
      conn.write(frameHeader(2n ** 63n));
      conn.write(new Uint8Array(64));
      await expectHangUp(conn);
      await stillSyncing("2-63");
    }),
  );

  test(
    "a control frame of invalid JSON gets an error frame",
    dumpLogsOnFailure(async () => {
      await using conn = await open();
      await hello(conn);
      conn.write(controlFrame('{"type":"changes","id":7,"since":'));
      expectErrorFrame(await nextError(conn));
      conn.write(controlFrame("not json at all"));
      expectErrorFrame(await nextError(conn));
      conn.write(frame(1, new Uint8Array([0xff, 0xfe, 0x00]))); // not even UTF-8
      expectErrorFrame(await nextError(conn));
      conn.write(controlFrame("[1, 2, 3]"));
      expectErrorFrame(await nextError(conn));
      await stillSyncing("bad-json");
      // Other connections are not affected.
      await using fresh = await open();
      await hello(fresh);
    }),
  );

  test(
    "an unknown message type gets an error frame naming the request",
    dumpLogsOnFailure(async () => {
      await using conn = await open();
      await hello(conn);
      conn.sendJson({ type: "format_disk", id: 9 });
      const f = await nextError(conn);
      expectErrorFrame(f, 9);
      expect(f.json?.code).toBe("unknown_type");
      await stillSyncing("unknown-type");
    }),
  );

  test(
    "an unknown frame type gets an error frame or a hang-up",
    dumpLogsOnFailure(async () => {
      await using conn = await open();
      await hello(conn);
      conn.write(frame(7, new TextEncoder().encode("what is this")));
      await waitFor("an error frame or a hang-up", () => {
        if (conn.closed) return true;
        const frames = conn.takeFrames().filter((f) => f.json?.type !== "changed");
        for (const f of frames) expectErrorFrame(f);
        return frames.length > 0 || "neither yet";
      });
      await stillSyncing("unknown-frame");
    }),
  );

  test(
    "apply with the paths ../x and /etc/passwd: each bad op is refused on its own, nothing of it is committed",
    dumpLogsOnFailure(async () => {
      await using conn = await open();
      await hello(conn);
      const put = (path: string) => ({ op: "put", path, kind: "file", baseVersion: 0, size: 0, mode: 420, hash: "", blocks: [], mtime: 0 });
      const statuses = async (id: number, ops: object[]) => {
        const reply = await conn.request({ type: "apply", id, ops });
        expect(reply.type).toBe("applied");
        return (reply.results as { status: string; code?: string }[]).map((r) => r.code ?? r.status);
      };

      expect(await statuses(2, [put("../x")])).toEqual(["bad_path"]);
      expect(await statuses(3, [put("/etc/passwd")])).toEqual(["bad_path"]);
      // A bad path beside a good one in the same batch: only the bad op is refused (one bad
      // name must not stop every upload of a client).
      const folder = { ...put("innocent"), kind: "dir", mode: 493 };
      expect(await statuses(4, [folder, put("a/../../escape")])).toEqual(["ok", "bad_path"]);

      const entries = await serverEntries(cluster().server.port);
      for (const p of entries.keys()) {
        expect(p.includes("..")).toBe(false);
        expect(p.startsWith("/")).toBe(false);
      }
      expect(entries.has("etc/passwd")).toBe(false);
      expect(entries.has("innocent")).toBe(true);
      await stillSyncing("bad-paths");
    }),
  );
});
