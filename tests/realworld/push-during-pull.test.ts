import { afterAll, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ANY_TOKEN, dumpLogs, startClient } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { FakeServer, fileEntry, honest } from "../hostile/_fake-server.ts";

// A push that arrives in the same read as the reply to a pull is handled before the pull's
// continuation runs (a reply resolves a promise; a push is handled at once). It asks for
// another pull, and the pull must not then forget that: soak seed 1568690548 left a client
// without a file for good (nothing else was pushed, and the next rescan was an hour away).

setDefaultTimeout(60_000);

const root = await tempDir("dropsim-push-during-pull-");
afterAll(() => root.remove());

test("a push that lands with the reply to a pull is not lost", async () => {
  const first = fileEntry("first.txt", new TextEncoder().encode("in the pull\n"), 1);
  const second = fileEntry("second.txt", new TextEncoder().encode("pushed right behind it\n"), 2);
  const state = { head: 1, entries: [first.entry], blocks: new Map([...first.blocks, ...second.blocks]) };
  let pushed = false;
  const server = new FakeServer(
    honest(state, (conn, f) => {
      if (f.json?.type !== "changes" || pushed) return false;
      pushed = true;
      // The reply for head 1, then a commit's push for (1, 2], written back to back.
      conn.send({ type: "changes_result", id: f.json.id, head: 1, entries: [first.entry], more: false });
      state.entries.push(second.entry);
      state.head = 2;
      conn.send({ type: "changed", from: 1, head: 2, entries: [second.entry] });
      return true;
    }),
  );
  using _server = server;
  const folder = root.join("folder");
  await using client = startClient({ folder, server: server.address, name: "client", token: ANY_TOKEN });
  try {
    await waitFor("both files to arrive", async () => {
      const have = await Promise.all(["first.txt", "second.txt"].map((n) => fs.exists(path.join(folder, n))));
      return have.every(Boolean) || `first: ${have[0]}, second: ${have[1]}`;
    });
  } catch (e) {
    dumpLogs([client], 40);
    throw e;
  }
});
