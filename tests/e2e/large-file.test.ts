import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { writeRandomFile } from "../helpers/tree.ts";

// 50 MiB is far above the maximum frame size and the block send window, so it only
// arrives if uploads and downloads stream block by block with backpressure.
setDefaultTimeout(120_000);

const cluster = useFileCluster();

test(
  "a 50 MiB random file written on A reaches B and C byte-identical",
  dumpLogsOnFailure(async () => {
    const size = 50 * 1024 * 1024;
    const hash = await writeRandomFile(cluster().path("A"), "big/random-50MiB.bin", size);
    await cluster().waitForTree(await cluster().snapshot("A"), undefined, { timeout: 60_000 });
    for (const name of ["B", "C"]) {
      expect((await fs.stat(cluster().path(name, "big/random-50MiB.bin"))).size).toBe(size);
      expect((await cluster().snapshot(name)).get("big/random-50MiB.bin")).toBe(hash);
    }
  }),
);
