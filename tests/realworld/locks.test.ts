import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import { serverEntries } from "../helpers/raw-client.ts";
import { ClientProcess, dropsimCommand, dumpLogsOnFailure, ServerProcess } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Issue 9, item 14: one process per data dir and per sync folder, and no folder that feeds
// back into itself (a sync folder inside another, or inside a server's data dir).

const REFUSED_WITHIN_MS = 20_000;

/**
 * Runs a dropsim command that must end on its own (a refusal); one that runs on instead is
 * killed after REFUSED_WITHIN_MS and fails the test by what it printed.
 */
async function runRefused(args: string[]): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(dropsimCommand(args), {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    timeout: REFUSED_WITHIN_MS,
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${out}${err}`.trim() };
}

/** Asserts one line of output matching every pattern, and a non-zero exit. */
function expectRefusal(r: { code: number; output: string }, ...patterns: (string | RegExp)[]): void {
  for (const p of patterns) expect(r.output).toMatch(typeof p === "string" ? new RegExp(RegExp.escape(p)) : p);
  expect(r.output.split("\n")).toHaveLength(1);
  expect(r.code).not.toBe(0);
}

function serve(dataDir: string): ServerProcess {
  return new ServerProcess({ dataDir });
}

async function syncing(folder: string, server: ServerProcess, name = "A"): Promise<ClientProcess> {
  const client = new ClientProcess({ folder, server: server.address, name });
  client.start();
  await client.waitForLine(/Syncing /);
  return client;
}

/** The pid of a process that has ended: what a crash leaves in a lock file. */
async function deadPid(): Promise<number> {
  const proc = Bun.spawn(["true"]);
  await proc.exited;
  return proc.pid;
}

function writeLock(file: string, pid: number, host = os.hostname()): void {
  fs.writeFileSync(file, JSON.stringify({ pid, host, started: new Date(0).toISOString() }));
}

const serveArgs = (dataDir: string) => ["serve", "--host", "127.0.0.1", "--port", "0", "--data", dataDir];
const syncArgs = (folder: string, server: ServerProcess) => ["sync", folder, "--server", server.address, "--share", "default", "--token", server.token];

describe("one process per data dir", () => {
  test(
    "a second serve on one data dir is refused, naming the first, until the first stops",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      const data = root.join("data");
      await using first = await serve(data).launch();
      expectRefusal(await runRefused(serveArgs(data)), `Cannot serve "${data}"`, `pid ${first.pid}`, os.hostname());
      expect(first.running).toBe(true);
      await first.stop();
      expect(fs.existsSync(`${data}/serve.lock`)).toBe(false);
      await using again = await serve(data).launch();
      expect(again.running).toBe(true);
    }),
  );

  test(
    "fsck checks a data dir beside the server running on it",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      await using server = await serve(root.join("data")).launch();
      const proc = Bun.spawn(dropsimCommand(["fsck", "--data", server.dataDir]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect(`${out}${err}`).toMatch(/is consistent/);
      expect(code).toBe(0);
      expect(server.running).toBe(true);
    }),
  );

  test(
    "a serve lock left by a process that died is taken over",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      const data = root.join("data");
      fs.mkdirSync(data);
      writeLock(`${data}/serve.lock`, await deadPid());
      await using server = await serve(data).launch();
      expect(JSON.parse(fs.readFileSync(`${data}/serve.lock`, "utf8")).pid).toBe(server.pid);
    }),
  );

  test(
    "a serve lock of another host is left to a person, who is told which file to remove",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      const data = root.join("data");
      fs.mkdirSync(data);
      writeLock(`${data}/serve.lock`, 1, "elsewhere.example");
      expectRefusal(await runRefused(serveArgs(data)), `Cannot serve "${data}"`, "pid 1 on elsewhere.example", `${data}/serve.lock`);
    }),
  );
});

describe("one process per sync folder", () => {
  test(
    "a second sync on one folder is refused, naming the first",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      await using server = await serve(root.join("data")).launch();
      await using first = await syncing(root.join("A"), server);
      expectRefusal(await runRefused(syncArgs(first.folder, server)), `Cannot sync "${first.folder}"`, `pid ${first.pid}`, os.hostname());
      expect(first.running).toBe(true);
    }),
  );

  test(
    "a sync lock left by a process that died is taken over",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      await using server = await serve(root.join("data")).launch();
      fs.mkdirSync(root.join("A", ".dropsim"), { recursive: true });
      writeLock(root.join("A", ".dropsim", "sync.lock"), await deadPid());
      await using client = await syncing(root.join("A"), server);
      expect(JSON.parse(fs.readFileSync(root.join("A", ".dropsim", "sync.lock"), "utf8")).pid).toBe(client.pid);
    }),
  );
});

describe("no folder that feeds back into itself", () => {
  test(
    "sync of a folder inside a sync folder is refused, naming the outer one",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      await using server = await serve(root.join("data")).launch();
      const outer = root.join("A");
      await (await syncing(outer, server)).stop();
      for (const inner of [`${outer}/inner`, `${outer}/deeper/still`]) {
        expectRefusal(await runRefused(syncArgs(inner, server)), `Cannot sync "${inner}": it is inside the sync folder "${outer}"`);
        expect(fs.existsSync(inner)).toBe(false);
      }
    }),
  );

  test(
    "sync of a server data dir, or of a folder inside one, is refused",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      const data = root.join("data");
      await using server = await serve(data).launch();
      expectRefusal(await runRefused(syncArgs(data, server)), `Cannot sync "${data}": it is a server data dir`);
      expectRefusal(await runRefused(syncArgs(`${data}/blocks/x`, server)), `Cannot sync "${data}/blocks/x": it is inside the server data dir "${data}"`);
      expect(fs.existsSync(`${data}/.dropsim`)).toBe(false);
      expect(fs.existsSync(`${data}/blocks/x`)).toBe(false);
    }),
  );

  test(
    "serve from a sync folder, or from a folder inside one, is refused",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir();
      const folder = root.join("A");
      {
        await using server = await serve(root.join("data")).launch();
        await (await syncing(folder, server)).stop();
      }
      expectRefusal(await runRefused(serveArgs(folder)), `Cannot serve "${folder}": it is a sync folder`);
      expectRefusal(await runRefused(serveArgs(`${folder}/data`)), `Cannot serve "${folder}/data": it is inside the sync folder "${folder}"`);
      expect(fs.existsSync(`${folder}/data`)).toBe(false);
      expect(fs.existsSync(`${folder}/shares`)).toBe(false);
    }),
  );
});

test(
  "a .dropsim folder deeper in a sync folder is never uploaded",
  dumpLogsOnFailure(async () => {
    await using root = await tempDir();
    await using server = await serve(root.join("data")).launch();
    await using client = await syncing(root.join("A"), server);
    for (const nested of ["sub/.dropsim", "a/b/.dropsim"]) {
      fs.mkdirSync(`${client.folder}/${nested}/tmp`, { recursive: true });
      fs.writeFileSync(`${client.folder}/${nested}/state.db`, "another client's database");
    }
    // Written last: once it is on the server, the folders above were seen long before.
    fs.writeFileSync(`${client.folder}/a/b/after.txt`, "after");
    await waitFor("the server to hold a/b/after.txt", async () => (await serverEntries(server.port)).has("a/b/after.txt") || "not yet");
    const paths = [...(await serverEntries(server.port)).keys()].sort();
    expect(paths).toEqual(["a", "a/b", "a/b/after.txt", "sub"]);
  }),
);
