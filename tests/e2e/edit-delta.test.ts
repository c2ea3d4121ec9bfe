import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { scrapeMetric } from "../helpers/metrics.ts";
import { dumpLogs, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { sha256, snapshotTree, writeRandomFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// A small edit of a big synced file must cost about the changed block on the wire, not the
// file's block list (4,096 entries, ~300 KB of JSON, sent several times over) and not the file.
setDefaultTimeout(120_000);

const SIZE = 64 * 1024 * 1024;
const LIMIT = 256 * 1024;

test("a 16-byte overwrite, then a 16-byte insert, in the middle of a 64 MiB file each reach the other replica byte-identical for under 256 KiB on the wire", async () => {
  await using root = await tempDir("dropsim-edit-delta-");
  await using server = await startServer({ dataDir: root.join("server-data") });
  await using a = startClient({ folder: root.join("A"), server: server.address, name: "A" });
  await using b = startClient({ folder: root.join("B"), server: server.address, name: "B" });
  const abortIf = () => server.unexpectedExit ?? a.unexpectedExit ?? b.unexpectedExit;
  const total = async () =>
    (await scrapeMetric(server.metricsUrl, "dropsim_bytes_received_total")) + (await scrapeMetric(server.metricsUrl, "dropsim_bytes_sent_total"));
  /** The counters once they stop moving (both clients idle). */
  const settled = async () => {
    let last = -1;
    let since = Date.now();
    await waitFor("the server's byte counters to settle", async () => {
      const now = await total();
      if (now !== last) [last, since] = [now, Date.now()];
      return Date.now() - since >= 600 || `still moving (${now})`;
    }, { abortIf });
    return last;
  };
  try {
    await fs.mkdir(root.join("stage"));
    // The client makes its folder when it starts; under Deno that can come after the file is ready.
    await fs.mkdir(root.join("A"), { recursive: true });
    const original = await writeRandomFile(root.join("stage"), "big.bin", SIZE);
    await fs.rename(root.join("stage", "big.bin"), root.join("A", "big.bin"));
    await waitFor("B to hold big.bin", async () => (await snapshotTree(b.folder)).get("big.bin") === original || "not yet", { abortIf, timeout: 90_000 });
    const before = await settled();

    const file = await fs.open(root.join("A", "big.bin"), "r+");
    await file.write(new Uint8Array(16).fill(0xab), 0, 16, SIZE / 2);
    await file.close();
    const edited = sha256(await fs.readFile(root.join("A", "big.bin")));
    expect(edited).not.toBe(original);
    await waitFor("B to hold the edit", async () => (await snapshotTree(b.folder)).get("big.bin") === edited || "not yet", { abortIf, timeout: 60_000 });
    const afterOverwrite = await settled();
    expect(afterOverwrite - before).toBeGreaterThan(0);
    expect(afterOverwrite - before).toBeLessThan(LIMIT);

    // An insert shifts everything after it: B rebuilds the tail from its own old copy.
    const current = await fs.readFile(root.join("A", "big.bin"));
    const at = Math.floor(SIZE / 3);
    const inserted = Buffer.concat([current.subarray(0, at), Buffer.alloc(16, 0xcd), current.subarray(at)]);
    await fs.writeFile(root.join("stage", "big.bin"), inserted);
    await fs.rename(root.join("stage", "big.bin"), root.join("A", "big.bin"));
    const want = sha256(inserted);
    await waitFor("B to hold the insert", async () => (await snapshotTree(b.folder)).get("big.bin") === want || "not yet", { abortIf, timeout: 60_000 });
    const spent = (await settled()) - afterOverwrite;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThan(LIMIT);
  } catch (e) {
    dumpLogs([server, a, b], 40);
    throw e;
  }
});
