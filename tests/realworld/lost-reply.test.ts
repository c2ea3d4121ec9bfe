import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ANY_TOKEN, dumpLogs, startClient } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { type FakeConn, FakeServer, honest } from "../hostile/_fake-server.ts";
import type { RawFrame } from "../helpers/wire-frames.ts";

// An upload whose reply is lost with the connection may have committed. A file created, sent,
// cut off before the reply, then deleted must be deleted on the server when the client comes
// back, not downloaded again as "new on the server" (soak seed 179888428 lost a deletion so).

setDefaultTimeout(60_000);

const root = await tempDir("dropsim-lost-reply-");
afterAll(() => root.remove());

test("a file deleted after its upload's reply was lost is deleted on the server, not brought back", async () => {
  const folder = root.join("folder");
  const state = { head: 0, entries: [] as Record<string, unknown>[], blocks: new Map<string, Uint8Array>() };
  let heldHello: { conn: FakeConn; f: RawFrame } | undefined;
  let committed = false;
  const rest = honest(state, (conn, f) => {
    const m = f.json;
    // The first apply commits, then the connection dies before the reply.
    if (m?.type !== "apply" || committed) return false;
    const op = (m.ops as Record<string, unknown>[])[0]!;
    state.head = 1;
    state.entries.push({ path: op.path, kind: op.kind, size: op.size, mode: op.mode, hash: op.hash, blocks: op.blocks, version: 1, deleted: false, mtime: op.mtime });
    committed = true;
    conn.close();
    return true;
  });
  const server = new FakeServer((conn, f) => {
    // The client comes back only once the test has deleted the file.
    if (f.json?.type === "hello" && committed && !heldHello) heldHello = { conn, f };
    else rest(conn, f);
  });
  using _server = server;
  await using client = startClient({ folder, server: server.address, name: "client", token: ANY_TOKEN });
  try {
    await waitFor("the client's folder", () => fs.exists(path.join(folder, ".dropsim")).then((ok) => ok || "not yet"));
    await fs.writeFile(path.join(folder, "x.txt"), "made, sent, then deleted\n");
    await waitFor("the upload to commit and the connection to die", () => heldHello !== undefined || "not yet");
    await fs.rm(path.join(folder, "x.txt"));
    const { conn, f } = heldHello!;
    conn.send({ type: "welcome", id: f.json!.id, protocol: PROTOCOL_VERSION, serverId: "fake-server", head: state.head, share: "default", scope: "read_write" });
    await waitFor("the client to send the deletion", () =>
      server.messages("apply").some((m) => (m.ops as Record<string, unknown>[]).some((op) => op.op === "delete" && op.path === "x.txt")) || "no delete yet",
    );
    expect(server.messages("get_blocks").length).toBe(0);
    expect(await fs.exists(path.join(folder, "x.txt"))).toBe(false);
  } catch (e) {
    dumpLogs([client], 60);
    throw e;
  }
});
