import { afterEach, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import type { GcRunReport } from "../../src/server/gc.ts";
import { openStores } from "../../src/store/open.ts";
import { expectFsckClean } from "../crash/_lib.ts";
import { dirBytes } from "../helpers/dir-bytes.ts";
import { dropsimOk, runDropsim } from "../helpers/run-dropsim.ts";
import { commitFile, deletePath } from "../helpers/share-commits.ts";
import { dumpLogsOnFailure, ServerProcess } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// `dropsim gc --data DIR` as an operator runs it: on a data dir no server holds (GC in the
// command's own process), and beside a running server (the server runs it and reports back).

setDefaultTimeout(120_000);

const MiB = 1024 * 1024;
const HOUR = 3_600_000;
const runtime = { openDatabase: openBunDatabase };

let scratch: TempDir;
beforeEach(async () => {
  scratch = await tempDir("dropsim-gc-cli-");
});
afterEach(() => scratch.remove());

/** A data dir whose share `default` holds `kept.txt` and a deleted file of `bigMiB` MiB (in 4 MiB blocks). */
async function dataDirWithDeletedFile(bigMiB: number): Promise<string> {
  const dir = scratch.join("data");
  const stores = await openStores(dir, runtime);
  try {
    const share = stores.share("default")!;
    const at = Date.now() - 2 * HOUR;
    await commitFile(share, "kept.txt", "still here\n", at);
    await commitFile(share, "big.bin", Array.from({ length: bigMiB / 4 }, () => new Uint8Array(randomBytes(4 * MiB))), at);
    await deletePath(share, "big.bin", at + 1);
  } finally {
    await stores.close();
  }
  // Makes access.db, as any admin command would, and lets the deleted file go at the next GC.
  await dropsimOk(["share", "set", "default", "--keep-days", "0", "--data", dir]);
  return dir;
}

test("with no server, gc runs in its own process: a dry run changes nothing, then a deleted 100 MiB file's space comes back and fsck is clean", async () => {
  const dir = await dataDirWithDeletedFile(100);
  const before = await dirBytes(dir);
  expect(before).toBeGreaterThan(100 * MiB);

  const packs = path.join(dir, "shares", "default", "blocks", "packs");
  const packBytes = await dirBytes(packs);
  expect(packBytes).toBeGreaterThan(100 * MiB);
  const dry = await dropsimOk(["gc", "--data", dir, "--dry-run", "--json"]);
  const dryReport = JSON.parse(dry.stdout) as GcRunReport;
  expect(dryReport.dryRun).toBe(true);
  expect(dryReport.shares[0]).toMatchObject({ share: "default", keepDays: 0, rowsDropped: 2, blocksDeleted: 25, bytesDeleted: 100 * MiB });
  expect(await dirBytes(packs)).toBe(packBytes);

  const gc = await dropsimOk(["gc", "--data", dir]);
  expect(gc.output).toContain('GC of share "default": dropped 2 versions, deleted 25 blocks (100.0 MiB)');
  expect(gc.output).toMatch(/Reclaimed \d+\.\d MiB on disk/);
  expect(packBytes - (await dirBytes(packs))).toBeGreaterThanOrEqual(90 * MiB);
  expect(before - (await dirBytes(dir))).toBeGreaterThanOrEqual(90 * MiB);
  await expectFsckClean(dir);
});

test(
  "beside a running server, gc asks the server, which runs it and reports back",
  dumpLogsOnFailure(async () => {
    const dir = await dataDirWithDeletedFile(8);
    await using server = new ServerProcess({ dataDir: dir, store: "dir" });
    await server.launch();
    const r = await dropsimOk(["gc", "--data", dir, "--json"], { timeout: 60_000 });
    const report = JSON.parse(r.stdout) as GcRunReport;
    expect(report.shares[0]).toMatchObject({ share: "default", rowsDropped: 2, blocksDeleted: 2, bytesDeleted: 8 * MiB });
    await server.waitForLine(/GC of share "default": dropped 2 versions, deleted 2 blocks \(8\.0 MiB\)/);
    // The server still serves, and nothing more is left to reclaim.
    const again = await dropsimOk(["gc", "--data", dir]);
    expect(again.output).toContain("Reclaimed 0 bytes on disk: 0 versions and 0 blocks");
    await server.stop();
    await expectFsckClean(dir);
  }),
);

test("gc refuses a folder that is not a data dir, and a bad --grace", async () => {
  const none = await runDropsim(["gc", "--data", scratch.join("nothing")]);
  // Usage errors (not a data dir, a bad value) exit 2 (cli/exit-codes.ts).
  expect(none.code).toBe(2);
  expect(none.output).toContain("is not a dropsim data dir");
  const dir = await dataDirWithDeletedFile(4);
  const bad = await runDropsim(["gc", "--data", dir, "--grace", "soon"]);
  expect(bad.code).toBe(2);
  expect(bad.output).toContain('Invalid duration "soon"');
});
