import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dropsimOk } from "../helpers/run-dropsim.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { partialDownloads, writeFile, writeRandomFile } from "../helpers/tree.ts";

// dropsim pause / resume (issue 13): nothing syncs while paused, across a restart too, and a
// download in flight stops without leaving anything half-written in the folder.
setDefaultTimeout(90_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

/** Unpaused, B takes a change within a fraction of a second: seeing none for this long means it is held. */
const HELD_FOR_MS = 1500;

async function onServer(rel: string): Promise<void> {
  await cluster().waitFor(`${rel} on the server`, async () => (await serverEntries(cluster().server.port)).has(rel) || "not yet");
}

/** Watches B's folder for HELD_FOR_MS: `rel` must not appear there. */
async function staysAway(rel: string): Promise<void> {
  const until = performance.now() + HELD_FOR_MS;
  while (performance.now() < until) {
    expect(await fs.exists(cluster().path("B", rel))).toBe(false);
    await Bun.sleep(50);
  }
}

test(
  "a change on A does not reach a paused B, even after B restarts, until B resumes",
  dumpLogsOnFailure(async () => {
    const b = cluster().path("B");
    const out = await dropsimOk(["pause"], { cwd: b });
    expect(out.output).toMatch(/Paused .*: nothing syncs until dropsim resume/);
    await writeFile(cluster().path("A"), "while-paused.txt", "one\n");
    await onServer("while-paused.txt");
    await staysAway("while-paused.txt");

    await cluster().client("B").restart();
    await writeFile(cluster().path("A"), "after-restart.txt", "two\n");
    await onServer("after-restart.txt");
    await staysAway("after-restart.txt");
    expect(await fs.exists(cluster().path("B", "while-paused.txt"))).toBe(false);

    await dropsimOk(["resume"], { cwd: b });
    await cluster().waitFor("both files to reach B", async () => ((await fs.exists(cluster().path("B", "while-paused.txt"))) && (await fs.exists(cluster().path("B", "after-restart.txt")))) || "not yet");
  }),
);

test(
  "pausing during a download stops it: no file at its path, no more bytes fetched; resume finishes it",
  dumpLogsOnFailure(async () => {
    const b = cluster().path("B");
    // Slow enough to be caught mid-way.
    await dropsimOk(["limit", "--down", "1MiB"], { cwd: b });
    const hash = await writeRandomFile(cluster().path("A"), "big.bin", 6 * 1024 * 1024);
    await cluster().waitFor("B's download of big.bin to be under way", async () => {
      const partial = [...(await partialDownloads(b)).values()].some((n) => n > 0);
      return partial || "no partial download yet";
    });
    await dropsimOk(["pause"], { cwd: b });
    // The block in hand may still be written (or the partial file set aside to resume): then nothing more.
    let at = new Map<string, number>();
    await cluster().waitFor("B's partial downloads to stop changing", async () => {
      const before = JSON.stringify([...(at = await partialDownloads(b))]);
      await Bun.sleep(200);
      return JSON.stringify([...(await partialDownloads(b))]) === before || "still changing";
    });
    await staysAway("big.bin");
    expect(await partialDownloads(b)).toEqual(at);

    await dropsimOk(["limit", "--down", "none"], { cwd: b });
    await dropsimOk(["resume"], { cwd: b });
    await cluster().waitFor("big.bin to reach B whole", async () => {
      const bytes = await fs.readFile(cluster().path("B", "big.bin")).catch(() => undefined);
      return (bytes !== undefined && new Bun.CryptoHasher("sha256").update(bytes).digest("hex") === hash) || "not yet";
    });
  }),
);
