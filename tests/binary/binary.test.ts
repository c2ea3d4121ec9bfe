import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { buildTarget, gitCommit, hostTarget, installedWatcherVersion } from "../../scripts/build-binaries.ts";
import { ClientProcess, type DropsimProcess, dumpLogs, firstUnexpectedExit, REPO_ROOT, ServerProcess } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { diffTrees, snapshotTree, writeFile, writeRandomFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// The standalone executable, copied alone into an empty folder outside the repository, must
// run without Bun, Node or node_modules: serve, sync (which loads the embedded watcher addon)
// and --version. DROPSIM_BIN=/path/to/dropsim tests that binary instead of building one here.
setDefaultTimeout(120_000);

const HOST = hostTarget();
if (!HOST) console.warn(`tests/binary: skipped: no standalone binary target for ${process.platform}-${process.arch}`);

let work: TempDir;
/** The dropsim binary under test, alone in its folder. */
let binary: string;
/** A binary of tests/binary/watcher-probe-fixture.ts, built the same way. */
let probe: string;
let expectedCommit: string | undefined;

/** Copies `file` alone into a new empty folder under the work dir. */
async function isolate(file: string, name: string): Promise<string> {
  const dir = work.join(`${name}-alone`);
  await fs.mkdir(dir);
  const copy = path.join(dir, name);
  await fs.copyFile(file, copy);
  await fs.chmod(copy, 0o755);
  return copy;
}

/** Environment without Bun, Node or the repository anywhere on it. */
function bareEnv(home: string): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: home, TMPDIR: home, NO_COLOR: "1" };
}

beforeAll(async () => {
  if (!HOST) return;
  work = await tempDir("dropsim-binary-");
  const opts = { outdir: work.join("build"), commit: gitCommit(), watcherVersion: await installedWatcherVersion() };
  // A DROPSIM_BIN that is a script (tests/deno/dropsim-deno) is not a standalone binary.
  const given = process.env.DROPSIM_BIN ? path.resolve(process.env.DROPSIM_BIN) : undefined;
  if (given && (await Bun.file(given).slice(0, 2).text()) !== "#!") {
    binary = await isolate(given, "dropsim");
  } else {
    binary = await isolate(await buildTarget(HOST, { ...opts, entry: path.join(REPO_ROOT, "src", "main.ts") }), "dropsim");
    expectedCommit = opts.commit;
  }
  const built = await buildTarget(HOST, { ...opts, outdir: work.join("probe-build"), entry: path.join(import.meta.dir, "watcher-probe-fixture.ts") });
  probe = await isolate(built, "watcher-probe");
  await fs.rm(work.join("build"), { recursive: true, force: true });
  await fs.rm(work.join("probe-build"), { recursive: true, force: true });
}, 120_000);

afterAll(async () => {
  await work?.remove();
});

describe.skipIf(!HOST)("standalone binary", () => {
  test("--version prints the package version and the commit it was built from", async () => {
    const pkg = (await Bun.file(path.join(REPO_ROOT, "package.json")).json()) as { version: string };
    const proc = Bun.spawnSync([binary, "--version"], { cwd: path.dirname(binary), env: bareEnv(path.dirname(binary)) });
    const out = proc.stdout.toString().trim();
    expect(proc.exitCode).toBe(0);
    expect(out).toStartWith(`${pkg.version} (`);
    expect(out).not.toContain("(source)");
    if (expectedCommit) expect(out).toBe(`${pkg.version} (${expectedCommit})`);
  });

  test("the embedded watcher addon loads and reports changes, ignores and snapshots", async () => {
    const dir = path.dirname(probe);
    const proc = Bun.spawn([probe], { cwd: dir, env: bareEnv(dir), stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) console.error(`watcher probe failed:\n${stdout}\n${stderr}`);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { standalone: boolean; events: string[]; ignoredSeen: string[]; since: string[] };
    expect(result.standalone).toBe(true);
    expect(result.events).toContain("create hello.txt");
    expect(result.ignoredSeen).toEqual([]);
    expect(result.since).toContain("create later.txt");
  });

  test("serve and two sync clients, all run from the binary, sync files both ways", async () => {
    await using root = await tempDir("dropsim-binary-sync-");
    const saved = process.env.DROPSIM_BIN;
    process.env.DROPSIM_BIN = binary;
    const procs: DropsimProcess[] = [];
    try {
      const server = new ServerProcess({ dataDir: root.join("server-data") });
      procs.push(server);
      await server.launch();
      const [a, b] = ["A", "B"].map((name) => new ClientProcess({ folder: root.join(name), server: server.address, name }));
      procs.push(a!, b!);
      a!.start();
      b!.start();
      const converge = (from: ClientProcess, to: ClientProcess) =>
        waitFor(
          `${to.name} to hold what ${from.name} holds`,
          async () => diffTrees([await snapshotTree(from.folder), await snapshotTree(to.folder)], [from.name, to.name]) ?? true,
          { timeout: 60_000, abortIf: () => firstUnexpectedExit(procs) },
        );
      await writeFile(a!.folder, "hello.txt", "hello from the binary\n");
      await writeRandomFile(a!.folder, "big/random-12MiB.bin", 12 * 1024 * 1024);
      await converge(a!, b!);
      await writeFile(b!.folder, "nested/reply.txt", "reply\n");
      await converge(b!, a!);
      expect(await Bun.file(path.join(a!.folder, "nested/reply.txt")).text()).toBe("reply\n");
      // A deletes a file it wrote itself: see tests/deno/interop.test.ts for why not one it just downloaded.
      await fs.rm(path.join(a!.folder, "hello.txt"));
      await converge(a!, b!);
      expect(await Bun.file(path.join(b!.folder, "hello.txt")).exists()).toBe(false);
    } catch (e) {
      dumpLogs(procs);
      throw e;
    } finally {
      if (saved === undefined) delete process.env.DROPSIM_BIN;
      else process.env.DROPSIM_BIN = saved;
      for (const p of procs.reverse()) await p[Symbol.asyncDispose]();
    }
  });
});
