import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { Cluster } from "../helpers/cluster.ts";
import { parseMetrics } from "../helpers/metrics.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { writeRandomFile } from "../helpers/tree.ts";

/**
 * A real server's /metrics scraped while two clients sync: every figure the issue names is there
 * under the naming rules (dropsim_ prefix, counters …_total, latencies …_seconds histograms),
 * the ones a sync moves have moved, and `promtool check metrics` accepts each scrape where
 * promtool is installed (Debian package prometheus).
 */

const promtool = Bun.which("promtool");
if (!promtool) console.warn("Skipping promtool check metrics on scraped /metrics: promtool is not installed (Debian package prometheus)");

/** Family → type, for everything /metrics must carry. */
const REQUIRED: Record<string, "counter" | "gauge" | "histogram"> = {
  dropsim_sessions_connected: "gauge",
  dropsim_auth_refusals_total: "counter",
  dropsim_commits_total: "counter",
  dropsim_conflicts_total: "counter",
  dropsim_bytes_received_total: "counter",
  dropsim_bytes_sent_total: "counter",
  dropsim_blocks_stored_total: "counter",
  dropsim_blocks_deduplicated_total: "counter",
  dropsim_journal_head: "gauge",
  dropsim_commit_duration_seconds: "histogram",
  dropsim_push_fanout_seconds: "histogram",
  dropsim_errors_total: "counter",
};

function families(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** The sum of every sample of `name` (over its labels). */
function total(text: string, name: string): number {
  return parseMetrics(text)
    .filter((s) => s.name === name)
    .reduce((sum, s) => sum + s.value, 0);
}

async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([promtool!, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: (out + err).trim() };
}

const cluster = await Cluster.start({ clients: ["A", "B"] });
afterAll(() => cluster[Symbol.asyncDispose]());

test(
  "/metrics during a sync has every figure under the naming rules, and promtool accepts it",
  dumpLogsOnFailure(async () => {
    const scrape = async () => (await fetch(cluster.server.metricsUrl)).text();
    const scrapes: string[] = [];

    await writeRandomFile(cluster.path("A"), "big.bin", 8 * 1024 * 1024);
    await cluster.waitFor("the server to receive blocks of big.bin", async () => {
      const text = await scrape();
      scrapes.push(text);
      return total(text, "dropsim_blocks_stored_total") > 0 || "no block stored yet";
    });
    await cluster.waitForTree(await cluster.snapshot("A"));
    // The same bytes under another name: the client offers its blocks, the server has them all.
    await fs.copyFile(cluster.path("A", "big.bin"), cluster.path("A", "copy.bin"));
    await cluster.waitForTree(await cluster.snapshot("A"));
    const text = await scrape();
    scrapes.push(text);

    const types = families(text);
    expect(Object.fromEntries(Object.keys(REQUIRED).map((n) => [n, types.get(n)]))).toEqual(REQUIRED);
    for (const [name, type] of types) {
      expect(name).toStartWith("dropsim_");
      if (type === "counter") expect(name).toEndWith("_total");
      if (type === "histogram") expect(name).toEndWith("_seconds");
    }

    expect(total(text, "dropsim_sessions_connected")).toBe(2);
    for (const name of ["dropsim_commits_total", "dropsim_bytes_received_total", "dropsim_bytes_sent_total", "dropsim_journal_head", "dropsim_commit_duration_seconds_count", "dropsim_push_fanout_seconds_count"]) {
      expect(total(text, name), name).toBeGreaterThan(0);
    }
    // 8 MiB are at least two blocks; all of them were offered again for copy.bin.
    expect(total(text, "dropsim_blocks_deduplicated_total")).toBeGreaterThanOrEqual(2);

    if (!promtool) return;
    for (const s of scrapes) expect(await promtoolCheck(s)).toEqual({ code: 0, output: "" });
  }),
  120_000,
);
