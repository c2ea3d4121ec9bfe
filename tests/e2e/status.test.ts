import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { serverEntries } from "../helpers/raw-client.ts";
import { runDropsim } from "../helpers/run-dropsim.ts";
import { type ClientProcess, dumpLogsOnFailure, type ServerProcess, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { writeFile, writeRandomFiles } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// `dropsim status` against real processes: what it says must be what the client and the server hold.
setDefaultTimeout(120_000);

interface StatusJson {
  running: boolean;
  exit: number;
  connected: boolean;
  whyNot?: string;
  upToDate: boolean;
  toUpload: { files: number; bytes: number };
  problems: { path: string; reason: string }[];
  conflicts: { path: string; copy: string }[];
}

async function status(folder: string, ...extra: string[]): Promise<{ code: number | null; json: StatusJson }> {
  const r = await runDropsim(["status", folder, "--json", ...extra]);
  let json: StatusJson;
  try {
    json = JSON.parse(r.stdout) as StatusJson;
  } catch {
    throw new Error(`dropsim status printed no JSON (exit ${r.code}):\n${r.output}`);
  }
  expect(json.exit).toBe(r.code!);
  return { code: r.code, json };
}

async function setUp(): Promise<{ root: TempDir; server: ServerProcess; [Symbol.asyncDispose](): Promise<void> }> {
  const root = await tempDir("dropsim-status-");
  const server = await startServer({ dataDir: root.join("data") });
  return {
    root,
    server,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await root.remove();
    },
  };
}

/** A client on ROOT/NAME, once its control socket answers. */
async function client(env: { root: TempDir; server: ServerProcess }, name: string, extraArgs?: string[]): Promise<ClientProcess> {
  const folder = env.root.join(name);
  await fs.mkdir(folder, { recursive: true });
  const c = startClient({ folder, server: env.server.address, name, ...(extraArgs ? { extraArgs } : {}) });
  await waitFor(`client ${name} to answer status`, async () => (await status(folder)).json.running || "not running yet", { abortIf: () => c.unexpectedExit });
  return c;
}

test(
  "status --json during an initial sync of thousands of files: uploads fall to 0, exit 1 while syncing, then 0",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    const folder = env.root.join("A");
    await fs.mkdir(folder);
    const count = 4000;
    await writeRandomFiles(folder, "many", count, 2048);
    // Paced to ~8 s (8 MiB at 1 MiB/s), so the samples below (a process each) see the sync under
    // way on any machine: unpaced, 4,000 small files can be up before the second sample.
    await using a = await client(env, "A", ["--rescan-interval", "1h", "--verbose", "--limit-up", "1MiB"]);
    const seen: StatusJson[] = [];
    const files = async () => [...(await serverEntries(env.server.port)).values()].filter((e) => e.kind === "file").length;
    await waitFor(
      "status to say in sync",
      async () => {
        // The server only gains files here: what status says is left can never exceed what it lacked just before.
        const lacking = count - (await files());
        const { json } = await status(folder);
        seen.push(json);
        expect(json.toUpload.files).toBeLessThanOrEqual(lacking);
        return json.exit === 0 || `exit ${json.exit}: ${JSON.stringify({ running: json.running, upToDate: json.upToDate, toUpload: json.toUpload })}`;
      },
      { timeout: 90_000 },
    );
    // Seen while syncing: not up to date, exit 1, uploads still to go (a pass takes at most 500 changed files).
    expect(seen.some((s) => s.running && s.exit === 1 && !s.upToDate && s.toUpload.files > 0)).toBe(true);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ running: true, connected: true, upToDate: true, toUpload: { files: 0, bytes: 0 }, problems: [], conflicts: [] });
    expect(await files()).toBe(count);
    expect(a.unexpectedExit).toBeUndefined();
  }),
);

test(
  "status --wait right after a write returns 0 only once the server already holds the file",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    await using a = await client(env, "A");
    const folder = a.folder;
    for (let i = 0; i < 3; i++) {
      const text = `written just before status --wait, round ${i}\n`.repeat(i + 1);
      await writeFile(folder, `note-${i}.txt`, text);
      const { code, json } = await status(folder, "--wait", "--timeout", "60s");
      expect(code).toBe(0);
      expect(json.upToDate).toBe(true);
      // No waiting here: status said in sync, so the server has it now.
      expect((await serverEntries(env.server.port)).get(`note-${i}.txt`)?.size).toBe(text.length);
    }
  }),
);

test(
  "a stopped server: status says not connected and why, exit 1; a client not running reads state.db, exit 1",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    await using a = await client(env, "A");
    await writeFile(a.folder, "kept.txt", "synced before the server stops\n");
    expect((await status(a.folder, "--wait")).code).toBe(0);
    await env.server.stop();
    await waitFor("status to see the server gone", async () => {
      const { code, json } = await status(a.folder);
      return (code === 1 && json.running && !json.connected && (json.whyNot ?? "") !== "") || JSON.stringify(json);
    });
    const text = await runDropsim(["status", a.folder]);
    expect(text.output).toMatch(/not connected to 127\.0\.0\.1:\d+ since .*ago\)/);
    expect((await status(a.folder, "--wait", "--timeout", "1s")).code).toBe(1);

    await a.stop();
    const { code, json } = await status(a.folder);
    expect(code).toBe(1);
    expect(json).toMatchObject({ running: false, exit: 1 });
    expect((json as unknown as { files: number }).files).toBeGreaterThanOrEqual(1);
    expect((json as unknown as { lastSync?: number }).lastSync).toBeGreaterThan(0);
    expect((await runDropsim(["status", a.folder])).output).toContain("not running");
    await env.server.launch();
  }),
);

test(
  "a client killed leaves its socket behind: status says not running, and the restarted client answers on it",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    await using a = await client(env, "A");
    await writeFile(a.folder, "before.txt", "synced before the kill\n");
    expect((await status(a.folder, "--wait")).code).toBe(0);
    await a.kill();
    expect(await fs.exists(`${a.folder}/.dropsim/control.sock`)).toBe(true);
    expect((await status(a.folder)).json).toMatchObject({ running: false, exit: 1 });
    a.start();
    await waitFor("the restarted client to answer status", async () => (await status(a.folder)).json.running || "not running yet", { abortIf: () => a.unexpectedExit });
    await writeFile(a.folder, "after.txt", "written after the restart\n");
    expect((await status(a.folder, "--wait")).code).toBe(0);
    expect((await serverEntries(env.server.port)).has("after.txt")).toBe(true);
  }),
);

test(
  "a conflict is listed by status (exit 3) and by dropsim conflicts with the file it conflicts with",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    await using a = await client(env, "A");
    await writeFile(a.folder, "same.txt", "written on A\n");
    expect((await status(a.folder, "--wait")).code).toBe(0);
    // B has its own same.txt before it first syncs: one of the two becomes a conflicted copy.
    await writeFile(env.root.join("B"), "same.txt", "written on B, differently\n");
    await using b = await client(env, "B");
    await waitFor("status of B to report the conflict", async () => {
      const { code, json } = await status(b.folder, "--wait", "--timeout", "20s");
      return (code === 3 && json.conflicts.length === 1) || `exit ${code}: ${JSON.stringify(json.conflicts)}`;
    });
    const { json } = await status(b.folder);
    expect(json.conflicts[0]!.path).toBe("same.txt");
    expect(json.conflicts[0]!.copy).toMatch(/^same \(conflicted copy from .+\)\.txt$/);
    const listed = await runDropsim(["conflicts", b.folder, "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([{ path: "same.txt", copy: json.conflicts[0]!.copy, host: expect.any(String) }]);
    // Resolved by deleting the copy: in sync again.
    await fs.rm(`${b.folder}/${json.conflicts[0]!.copy}`);
    expect((await status(b.folder, "--wait")).code).toBe(0);
  }),
);

test(
  "an entry that cannot sync is a problem status reports with its reason, exit 3",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    await using a = await client(env, "A");
    // Root reads any file whatever its mode: there, a FIFO (never synced) is the entry that cannot sync.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const made = Bun.spawnSync(["mkfifo", `${a.folder}/pipe`]);
      expect(made.exitCode).toBe(0);
    } else {
      await writeFile(a.folder, "secret.txt", "nobody may read this\n");
      await fs.chmod(`${a.folder}/secret.txt`, 0);
    }
    const name = asRoot ? "pipe" : "secret.txt";
    await waitFor("status to report the entry that cannot sync", async () => {
      const { code, json } = await status(a.folder, "--wait", "--timeout", "10s");
      return (code === 3 && json.problems.some((p) => p.path === name)) || `exit ${code}: ${JSON.stringify(json.problems)}`;
    });
    const text = await runDropsim(["status", a.folder]);
    expect(text.code).toBe(3);
    expect(text.output).toContain("Cannot sync (1):");
    if (!asRoot) await fs.chmod(`${a.folder}/secret.txt`, 0o600);
  }),
);

test(
  "status --data shows the running server's shares, heads and clients, and what the data dir holds once stopped",
  dumpLogsOnFailure(async () => {
    await using env = await setUp();
    await using a = await client(env, "A");
    await writeFile(a.folder, "one.txt", "one\n");
    expect((await status(a.folder, "--wait")).code).toBe(0);
    const data = env.root.join("data");
    const st = await fs.stat(`${data}/control.sock`);
    expect(st.mode & 0o777).toBe(0o600);
    const live = await runDropsim(["status", "--data", data, "--json"]);
    expect(live.code).toBe(0);
    const server = JSON.parse(live.stdout);
    const head = server.shares[0].head;
    expect(head).toBeGreaterThan(0);
    expect(server).toMatchObject({ running: true, address: env.server.address, shares: [{ name: "default", head }] });
    expect(server.clients).toHaveLength(1);
    expect(server.clients[0].share).toBe("default");
    expect(server.clients[0].bytesIn).toBeGreaterThan(0);
    expect((await runDropsim(["status", "--data", data])).output).toMatch(/Clients \(1\):/);

    await a.stop();
    await env.server.stop();
    const offline = await runDropsim(["status", "--data", data, "--json"]);
    expect(offline.code).toBe(1);
    expect(JSON.parse(offline.stdout)).toEqual({ running: false, data, shares: [{ name: "default", head }], clients: [] });
    expect((await runDropsim(["status", "--data", data])).output).toContain("not running");
    // A DIR wins over --data (DROPSIM_DATA may be set for the server); a server cannot be waited for.
    expect(JSON.parse((await runDropsim(["status", a.folder, "--data", data, "--json"])).stdout)).toMatchObject({ running: false, folder: a.folder });
    expect((await runDropsim(["status", "--data", data, "--wait"])).code).toBe(2);
    await env.server.launch();
  }),
);
