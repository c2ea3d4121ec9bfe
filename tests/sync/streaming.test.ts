import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dropsimOk } from "../helpers/run-dropsim.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { writeRandomFile } from "../helpers/tree.ts";

// Streaming (protocol 3): B downloads a new big file while A is still uploading it, into a
// temp file of its own, and the commit's download starts from what it has.
setDefaultTimeout(90_000);

const cluster = useFileCluster({ clients: ["A", "B"] });
const MiB = 1024 * 1024;

/** Sizes of B's temp files, kept partial files apart. */
async function tempFiles(root: string): Promise<{ shards: number[]; kept: string[] }> {
  const tmp = path.join(root, ".dropsim", "tmp");
  const shards: number[] = [];
  let kept: string[] = [];
  for (const d of await fs.readdir(tmp)) {
    const names = await fs.readdir(path.join(tmp, d));
    if (d === "kept") kept = names;
    else for (const n of names) shards.push((await fs.stat(path.join(tmp, d, n)).catch(() => undefined))?.size ?? 0);
  }
  return { shards, kept };
}

test(
  "B writes a new big file's blocks while A still uploads it; the commit completes it byte-identical, leaving no temp file",
  dumpLogsOnFailure(async () => {
    const a = cluster().path("A");
    const b = cluster().path("B");
    // ~5 s of upload: time for B to be seen streaming before the commit.
    await dropsimOk(["limit", "--up", "8MiB"], { cwd: a });
    const hash = await writeRandomFile(a, "video.bin", 40 * MiB);
    await cluster().waitFor(
      "B to stream part of video.bin before A commits it",
      async () => {
        const streamed = Math.max(0, ...(await tempFiles(b)).shards);
        const committed = (await serverEntries(cluster().server.port)).has("video.bin");
        if (committed) throw new Error(`A committed video.bin before B was seen streaming it (largest temp file ${streamed} bytes)`);
        return streamed >= 2 * MiB || `B's largest temp file: ${streamed} bytes`;
      },
      30_000,
    );
    await cluster().waitFor("B to hold video.bin", async () => (await cluster().snapshot("B")).get("video.bin") === hash || "not yet", 60_000);
    expect(await tempFiles(b)).toEqual({ shards: [], kept: [] });
  }),
);
