import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type DropsimProcess, dumpLogsOnFailure, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { scrapeMetric } from "../helpers/metrics.ts";
import { tempDir, type TempDir } from "../helpers/temp-dir.ts";
import { sha256, STATE_DIR, writeRandomFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Ctrl+C stops within a second and says "stopped", even in the middle of a big download: the
// download is abandoned in its temp file (never seen in the folder) and done again next run.
// Asked: 1 s. Failed above 2 s, so a slow CI machine does not fail it; the time is printed.

setDefaultTimeout(120_000);
const STOP_LIMIT_MS = 2_000;
const BIG = 192 * 2 ** 20;
const dirs: TempDir[] = [];
afterAll(async () => {
  for (const d of dirs) await d.remove();
});

async function dir(): Promise<TempDir> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}

/** Sends SIGINT (Ctrl+C) and resolves with how long the process took to exit. */
async function interrupt(p: DropsimProcess): Promise<number> {
  const started = performance.now();
  process.kill(p.pid!, "SIGINT");
  await waitFor(`${p.name} to exit after SIGINT`, () => !p.running || "still running", { timeout: 10_000 });
  return performance.now() - started;
}

/** Bytes in the client's temp files: a download in flight. */
async function downloading(root: string): Promise<number> {
  const entries = await fs.readdir(path.join(root, STATE_DIR, "tmp"), { recursive: true, withFileTypes: true }).catch(() => []);
  let bytes = 0;
  for (const e of entries) if (e.isFile()) bytes += (await fs.stat(path.join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  return bytes;
}

test(
  "Ctrl+C during a big download stops the client within a second, says stopped, and leaves no partial file",
  dumpLogsOnFailure(async () => {
    const data = await dir();
    const a = (await dir()).join("A");
    const b = (await dir()).join("B");
    await using server = await startServer({ dataDir: data.join("data"), extraArgs: ["--insecure"] });
    const args = ["--rescan-interval", "1h", "--verbose", "--insecure"];
    const digest = await writeRandomFile(a, "big.bin", BIG);
    await using uploader = startClient({ folder: a, server: server.address, name: "A", extraArgs: args });
    await uploader.waitForLine(/Up to date/, 60_000);

    await using downloader = startClient({ folder: b, server: server.address, name: "B", extraArgs: args });
    await waitFor("B to be downloading", async () => (await downloading(b)) > 8 * 2 ** 20 || `${await downloading(b)} bytes in temp files`, { timeout: 60_000 });
    const took = await interrupt(downloader);
    console.log(`client stopped ${(took / 1000).toFixed(2)} s after Ctrl+C, in the middle of a ${BIG / 2 ** 20} MiB download`);
    expect(downloader.logs()).toMatch(/\bstopped\n|\bstopped$/m);
    expect(took).toBeLessThan(STOP_LIMIT_MS);
    const partial = await fs.stat(path.join(b, "big.bin")).then((s) => s.size, () => undefined);
    expect(partial === undefined || partial === BIG).toBe(true);

    // The next run downloads it whole.
    downloader.start();
    await waitFor("big.bin downloaded whole", async () => {
      const bytes = await fs.readFile(path.join(b, "big.bin")).catch(() => undefined);
      return (bytes !== undefined && sha256(bytes) === digest) || `${bytes?.length ?? "no"} bytes`;
    }, { timeout: 90_000 });
  }),
);

test(
  "Ctrl+C stops the server within a second and says stopped",
  dumpLogsOnFailure(async () => {
    const data = await dir();
    await using server = await startServer({ dataDir: data.join("data"), extraArgs: ["--insecure"] });
    await using client = startClient({ folder: (await dir()).join("C"), server: server.address, name: "C", extraArgs: ["--verbose", "--insecure"] });
    await client.waitForLine(/Connected to /);
    const took = await interrupt(server);
    console.log(`server stopped ${(took / 1000).toFixed(2)} s after Ctrl+C`);
    expect(server.logs()).toMatch(/\bstopped$/m);
    expect(took).toBeLessThan(STOP_LIMIT_MS);
  }),
);

test(
  "Ctrl+C stops the server within a second during a big upload, which completes once it is back",
  dumpLogsOnFailure(async () => {
    const data = await dir();
    const a = (await dir()).join("A");
    await using server = await startServer({ dataDir: data.join("data"), extraArgs: ["--insecure"] });
    const digest = await writeRandomFile(a, "big.bin", BIG);
    // Limited so that the upload is still under way when the server is stopped. Unlimited it took
    // 1.1 s under Deno, and most of it went while the file was still being hashed (early uploads),
    // before "Uploading" was said: the first look at the server found 136–204 of 192 MiB there,
    // and the upload could finish before the Ctrl+C (CI at f70acb6, 2 runs in 3 at 8ee330f).
    await using uploader = startClient({ folder: a, server: server.address, name: "A", extraArgs: ["--rescan-interval", "1h", "--verbose", "--insecure", "--limit-up", "64MiB"] });
    await uploader.waitForLine(/Uploading /, 60_000);
    const received = () => scrapeMetric(server.metricsUrl, "dropsim_bytes_received_total");
    await waitFor("the upload under way", async () => (await received()) > 16 * 2 ** 20 || `${await received()} bytes received`);
    const took = await interrupt(server);
    console.log(`server stopped ${(took / 1000).toFixed(2)} s after Ctrl+C, during a ${BIG / 2 ** 20} MiB upload`);
    expect(server.logs()).toMatch(/\bstopped$/m);
    expect(took).toBeLessThan(STOP_LIMIT_MS);
    expect(await uploader.waitForLine(/Up to date/, 1).catch(() => undefined)).toBeUndefined();
    await server.launch();
    await uploader.waitForLine(/Up to date/, 90_000);
    await using check = startClient({ folder: (await dir()).join("B"), server: server.address, name: "B", extraArgs: ["--rescan-interval", "1h", "--insecure"] });
    await waitFor("big.bin on another client, whole", async () => {
      const bytes = await fs.readFile(path.join(check.folder, "big.bin")).catch(() => undefined);
      return (bytes !== undefined && sha256(bytes) === digest) || `${bytes?.length ?? "no"} bytes`;
    }, { timeout: 90_000 });
  }),
);
