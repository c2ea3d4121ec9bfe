/**
 * Where each process's CPU goes in one W2 (a 512 MiB file just copied into A, over TLS with a
 * token, until B holds it), by the machine's own sampler: `perf record -a` around the sync,
 * every sample filed by the code it hit (bench/lib/perf-split.ts). Issue 14's other way to be
 * done: at least 80 % of each process's CPU in hashing, system calls or I/O. Beside the three
 * processes, the same split of a bare Bun TLS hop (no dropsim: bench/lib/steps.ts's probe), for
 * what Bun itself spends moving bytes over TLS.
 *
 *   bun bench/cpu-split.ts [--size MIB]
 *
 * Needs perf (Debian's linux-perf) and the right to sample every CPU (root, or
 * kernel.perf_event_paranoid ≤ 0). Kernel time counts whole: on a VM it includes the host's
 * first touch of guest pages the page cache takes (bench/README).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { currentBuild, useBuild } from "./lib/build.ts";
import { bHolds, withCluster } from "./lib/cluster.ts";
import { writeRandomFile } from "./lib/data.ts";
import { type Category, CATEGORIES, CATEGORY_TEXT, FLOOR_KINDS, hotPages, type KnownCode, parsePerfScript, type PerfSample, splitOf, total } from "./lib/perf-split.ts";
import { copyLikeUser } from "./lib/peers.ts";
import { killAll } from "./lib/proc.ts";
import { type Probe, PROBES } from "./lib/steps.ts";
import { waitFor } from "./lib/wait.ts";
import { MiB } from "./lib/workload.ts";

const FILE = "big.bin";
/** Samples per second per CPU: ~8,000 samples over W2's 4 s on two cores. */
const HZ = 999;
/** A page of Bun's code busy in a probe holds at least this share of its samples (SHA-256's: ~70 %; AES-GCM's two: 6–9 %; the next: under 1 %). */
const HOT = 0.02;
const PROBE_BYTES = 256 * MiB;

function perf(args: string[]): string {
  const r = Bun.spawnSync(["perf", ...args], { stdout: "pipe", stderr: "pipe" });
  if (!r.success) throw new Error(`perf ${args[0]} failed: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

function samplesOf(data: string): PerfSample[] {
  return parsePerfScript(perf(["script", "-i", data, "-F", "pid,tid,ip,sym,dso"]));
}

/** Samples of one probe run alone under perf. */
function probe(dir: string, which: Probe): PerfSample[] {
  const data = path.join(dir, `${which}.perf`);
  perf(["record", "-q", "-F", String(HZ), "-e", "cpu-clock", "-o", data, "--", process.execPath, path.join(import.meta.dir, "lib", "steps.ts"), String(PROBE_BYTES), dir, which]);
  return samplesOf(data);
}

/** Samples of every CPU while `body` runs. */
async function sampleAll<T>(data: string, body: () => Promise<T>): Promise<{ result: T; samples: PerfSample[] }> {
  const rec = Bun.spawn(["perf", "record", "-q", "-a", "-F", String(HZ), "-e", "cpu-clock", "-o", data], { stdout: "ignore", stderr: "pipe" });
  // perf writes its header once it samples.
  await waitFor("perf record to start", () => (fs.existsSync(data) && fs.statSync(data).size > 0) || "no perf.data yet", {
    timeout: 10_000,
    interval: 10,
    abortIf: () => (rec.exitCode === null ? undefined : `perf record exited with code ${rec.exitCode} (sampling every CPU needs root, or kernel.perf_event_paranoid ≤ 0)`),
  });
  let result: T;
  try {
    result = await body();
  } finally {
    rec.kill("SIGINT");
    await rec.exited;
  }
  return { result, samples: samplesOf(data) };
}

function parseSize(argv: string[]): number {
  const i = argv.indexOf("--size");
  if (i < 0) return 512 * MiB;
  const mib = Number(argv[i + 1]);
  if (!Number.isInteger(mib) || mib <= 0) throw new Error(`--size takes a whole number of MiB, not ${argv[i + 1] ?? "nothing"}`);
  return mib * MiB;
}

function pct(n: number, of: number): string {
  return `${((100 * n) / of).toFixed(1)} %`.padStart(8);
}

async function main(): Promise<void> {
  const size = parseSize(process.argv.slice(2));
  if (!Bun.which("perf")) throw new Error("perf is not installed: apt-get install linux-perf");
  // Bun's hashing and encrypting code is found in probes run by this Bun: another binary's lies elsewhere.
  if (process.env.DROPSIM_BIN) throw new Error("bench/cpu-split.ts samples `bun src/main.ts`: unset DROPSIM_BIN");
  useBuild(currentBuild());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dropsim-cpu-split-"));
  try {
    const alone = Object.fromEntries(PROBES.map((p) => [p, probe(dir, p)])) as Record<Probe, PerfSample[]>;
    const tcpPages = hotPages(alone.tcp, HOT);
    const code: KnownCode = { sha: hotPages(alone.sha, HOT), aes: new Set([...hotPages(alone.tls, HOT)].filter((p) => !tcpPages.has(p))) };
    if (code.sha.size === 0 || code.aes.size === 0) throw new Error("Cannot find Bun's SHA-256 or AES-GCM code in the probes' samples");

    const master = path.join(dir, "master.bin");
    writeRandomFile(master, size, "cpu-split");
    const staged = path.join(dir, FILE);
    copyLikeUser(master, staged);
    const clusterDir = path.join(dir, "dropsim");
    fs.mkdirSync(clusterDir);
    const ctx = { quick: false, runs: 1, dir, progress: (m: string) => console.error(m) };
    const { result: pids, samples } = await withCluster(ctx, clusterDir, {}, ({ procs, folderA, folderB, exited }) =>
      sampleAll(path.join(dir, "w2.perf"), async () => {
        fs.renameSync(staged, path.join(folderA, FILE));
        await waitFor("B to hold the file", bHolds(path.join(folderB, FILE), size), { timeout: 300_000, interval: 5, abortIf: exited });
        return procs.map((p) => p.pid);
      }),
    );

    const columns: [string, Record<Category, number>][] = [
      ["server", splitOf(samples, pids[0]!, code)],
      ["A (sends)", splitOf(samples, pids[1]!, code)],
      ["B (receives)", splitOf(samples, pids[2]!, code)],
      ["bare TLS hop", splitOf(alone.tls, alone.tls[0]!.pid, code)],
    ];
    const width = Math.max(...Object.values(CATEGORY_TEXT).map((t) => t.length)) + 2;
    const row = (label: string, cells: string[]) => console.log(label.padEnd(width) + cells.map((c) => c.padStart(14)).join(""));
    console.log(`\nW2 over TLS, ${size / MiB} MiB just copied: each process's CPU samples (perf, ${HZ} Hz per CPU)\n`);
    row("", columns.map(([name]) => name));
    row("samples", columns.map(([, s]) => String(total(s))));
    for (const c of CATEGORIES) row(CATEGORY_TEXT[c], columns.map(([, s]) => pct(s[c], total(s))));
    const floorShare = (s: Record<Category, number>) => FLOOR_KINDS.reduce((n, c) => n + s[c], 0);
    row("hashing, system calls, TLS", columns.map(([, s]) => pct(floorShare(s), total(s))));
    row("  and copies", columns.map(([, s]) => pct(floorShare(s) + s.copy, total(s))));
    console.log(`\nBun's SHA-256 pages: ${[...code.sha].map((p) => `0x${(p * 4096).toString(16)}`).join(" ")}; AES-GCM: ${[...code.aes].map((p) => `0x${(p * 4096).toString(16)}`).join(" ")}`);
  } finally {
    killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
