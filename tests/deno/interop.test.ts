import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { RawConnection } from "../helpers/raw-client.ts";
import {
  ClientProcess,
  type DropsimProcess,
  dumpLogs,
  firstUnexpectedExit,
  REPO_ROOT,
  ServerProcess,
} from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { diffTrees, snapshotTree, writeFile, writeRandomFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// The same sources under Deno (node:net, node:sqlite, @parcel/watcher from node_modules) and
// under Bun speak one protocol: a Deno server with a Bun and a Deno client, and a Bun server
// with a Deno and a Bun client, sync files both ways, including one far larger than a frame.
setDefaultTimeout(120_000);

const DENO = findDeno();
if (!DENO) console.warn("tests/deno: skipped: no deno executable (node_modules/.bin/deno or on PATH); `npm install` provides it");
/** Runs the sources under Deno, standing in for a compiled binary (see the script). */
const LAUNCHER = path.join(import.meta.dir, "dropsim-deno");

function findDeno(): string | undefined {
  const local = path.join(REPO_ROOT, "node_modules", ".bin", "deno");
  return Bun.spawnSync(["test", "-x", local]).exitCode === 0 ? local : (Bun.which("deno") ?? undefined);
}

type RuntimeName = "bun" | "deno";

/**
 * Starts a process with `start` under `runtime`. The e2e helpers run `$DROPSIM_BIN` instead
 * of `bun src/main.ts` when it is set, and read it when a process starts (synchronously), so
 * pointing it at the Deno launcher affects exactly the starts made inside `start`.
 */
function as<T>(runtime: RuntimeName, start: () => T): T {
  const saved = process.env.DROPSIM_BIN;
  if (runtime === "deno") process.env.DROPSIM_BIN = LAUNCHER;
  else delete process.env.DROPSIM_BIN;
  try {
    return start();
  } finally {
    if (saved === undefined) delete process.env.DROPSIM_BIN;
    else process.env.DROPSIM_BIN = saved;
  }
}

interface Setup {
  server: RuntimeName;
  /** Runtime of client A and of client B. */
  clients: [RuntimeName, RuntimeName];
}

async function syncsBothWays({ server: serverRuntime, clients }: Setup): Promise<void> {
  await using root = await tempDir("dropsim-deno-");
  const procs: DropsimProcess[] = [];
  try {
    const server = await as(serverRuntime, () => {
      const s = new ServerProcess({ dataDir: root.join("server-data"), name: `srv-${serverRuntime}` });
      procs.push(s);
      return s.launch();
    });
    const [a, b] = (["A", "B"] as const).map((name, i) =>
      as(clients[i]!, () => {
        const c = new ClientProcess({ folder: root.join(name), server: server.address, name: `${name}-${clients[i]}` });
        procs.push(c);
        c.start();
        return c;
      }),
    ) as [ClientProcess, ClientProcess];

    const converge = async (from: ClientProcess, to: ClientProcess, what: string) =>
      waitFor(
        `${to.name} to hold what ${from.name} holds (${what})`,
        async () => diffTrees([await snapshotTree(from.folder), await snapshotTree(to.folder)], [from.name, to.name]) ?? true,
        { timeout: 60_000, abortIf: () => firstUnexpectedExit(procs) },
      );

    await writeFile(a.folder, "hello.txt", `hello from ${a.name}\n`);
    await writeFile(a.folder, "docs/nested/deep.md", "# deep\n");
    const bigHash = await writeRandomFile(a.folder, "big/random-24MiB.bin", 24 * 1024 * 1024);
    await converge(a, b, "A's first files");
    expect((await snapshotTree(b.folder)).get("big/random-24MiB.bin")).toBe(bigHash);

    await writeFile(b.folder, "hello.txt", `edited on ${b.name}, longer than before\n`);
    await writeFile(b.folder, "from-b/reply.txt", `reply from ${b.name}\n`);
    await converge(b, a, "B's edit and new file");
    expect(await Bun.file(path.join(a.folder, "hello.txt")).text()).toBe(`edited on ${b.name}, longer than before\n`);

    // A deletes a folder it wrote itself. (Deleting on B what B downloaded a moment ago can go
    // unseen: @parcel/watcher drops a path created and deleted within one batch of up to 500 ms,
    // and the download's rename is such a create. That is the client's to handle, not Deno's.)
    await fs.rm(path.join(a.folder, "docs"), { recursive: true });
    await converge(a, b, "A's deleted folder");
    expect(await Bun.file(path.join(b.folder, "docs/nested/deep.md")).exists()).toBe(false);
  } catch (e) {
    dumpLogs(procs);
    throw e;
  } finally {
    for (const p of procs.reverse()) await p[Symbol.asyncDispose]();
  }
}

describe.skipIf(!DENO)("Deno interop", () => {
  test("a Deno server answers hello with welcome over raw TCP", async () => {
    await using root = await tempDir("dropsim-deno-");
    await using server = await as("deno", () => new ServerProcess({ dataDir: root.join("data"), name: "srv-deno" }).launch());
    await using conn = await RawConnection.open("127.0.0.1", server.port);
    const welcome = await conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: "deno-interop-raw", token: server.token });
    expect(welcome).toMatchObject({ type: "welcome", id: 1, protocol: PROTOCOL_VERSION, head: 0 });
  });

  test("a Deno server syncs a Bun client and a Deno client both ways", () => syncsBothWays({ server: "deno", clients: ["bun", "deno"] }));

  test("a Bun server syncs a Deno client and a Bun client both ways", () => syncsBothWays({ server: "bun", clients: ["deno", "bun"] }));
});
