import { expect, setDefaultTimeout, test } from "bun:test";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dropsimOk } from "../helpers/run-dropsim.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { writeRandomFile } from "../helpers/tree.ts";

// Bandwidth limits (issue 13), as behaviour, not a speed target: a limit set on a running
// client slows its uploads to at most that rate, and lifting it applies at once.
setDefaultTimeout(90_000);

const cluster = useFileCluster({ clients: ["A"] });
const MiB = 1024 * 1024;

async function uploadSeconds(rel: string, bytes: number): Promise<number> {
  const started = performance.now();
  await writeRandomFile(cluster().path("A"), rel, bytes);
  await cluster().waitFor(`${rel} committed on the server`, async () => (await serverEntries(cluster().server.port)).get(rel)?.size === bytes || "not yet", 60_000);
  return (performance.now() - started) / 1000;
}

test(
  "dropsim limit --up 1MiB on a running client: a 4 MiB upload takes at least 3 s; --up none lifts it",
  dumpLogsOnFailure(async () => {
    const a = cluster().path("A");
    const set = await dropsimOk(["limit", "--up", "1MiB"], { cwd: a });
    expect(set.output).toMatch(/upload 1\.0 MiB\/s, download no limit/);
    expect((await dropsimOk(["limit"], { cwd: a })).output).toMatch(/upload 1\.0 MiB\/s, download no limit/);

    const limited = await uploadSeconds("limited.bin", 4 * MiB);
    expect(limited).toBeGreaterThanOrEqual(3);

    await dropsimOk(["limit", a, "--up", "none"]);
    // Unlimited on loopback, 4 MiB is far under the 3 s the limit took: the change applied.
    const free = await uploadSeconds("free.bin", 4 * MiB);
    expect(free).toBeLessThan(limited);
  }),
);
