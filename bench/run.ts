/**
 * dropsim benchmark suite (issue 4): real server and client processes on 127.0.0.1 in temp
 * folders, one workload after another.
 *
 *   bun run bench                 every workload, full size, 3 runs each
 *   bun run bench W3 W4a          some workloads (an id prefix works: W4 = W4a and W4b)
 *   bun run bench --quick         every workload at a small size, 1 run, timings not judged (CI)
 *   bun run bench --runs 5        more runs per workload
 *   bun run bench --out x.json    write the results elsewhere (experiments: keeps latest.json clean)
 *
 * Prints one table (median, min – max, target, PASS/MISS) and writes bench/results/latest.json
 * (quick runs: bench/results/quick.json). DROPSIM_BIN=/path/to/dropsim benchmarks that
 * executable instead of `bun src/main.ts`. Exit code 1 if a workload failed to run (a missed
 * target is reported, not an error).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { killAll, REPO_ROOT } from "./lib/proc.ts";
import { type BenchReport, renderTable, type WorkloadResult, writeReport } from "./lib/report.ts";
import type { BenchContext, Workload } from "./lib/workload.ts";
import { w1 } from "./workloads/w1-small-files.ts";
import { w2 } from "./workloads/w2-big-file.ts";
import { w3 } from "./workloads/w3-latency.ts";
import { w4a, w4b } from "./workloads/w4-edit.ts";
import { w5 } from "./workloads/w5-memory.ts";
import { w6 } from "./workloads/w6-fanout.ts";
import { w7 } from "./workloads/w7-restart.ts";
import { w9 } from "./workloads/w9-folder-move.ts";

const WORKLOADS: Workload[] = [w1, w2, w3, w4a, w4b, w5, w6, w7, w9];
const DEFAULT_RUNS = 3;

interface Options {
  out?: string;
  quick: boolean;
  runs: number;
  selected: Workload[];
}

function parseArgs(argv: string[]): Options {
  let quick = false;
  let runs: number | undefined;
  let out: string | undefined;
  const ids: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--runs") runs = Number(argv[++i]);
    else if (arg.startsWith("--runs=")) runs = Number(arg.slice("--runs=".length));
    else if (arg === "--out") out = argv[++i];
    else if (arg.startsWith("--out=")) out = arg.slice("--out=".length);
    else if (arg === "--help" || arg === "-h") {
      console.log(`usage: bun run bench [--quick] [--runs N] [--out FILE] [W1 … W9]\n\n${WORKLOADS.map((w) => `  ${w.id.padEnd(4)} ${w.title}`).join("\n")}`);
      process.exit(0);
    } else if (arg.startsWith("-")) throw new Error(`Unknown option "${arg}": see --help`);
    else ids.push(arg.toUpperCase());
  }
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) throw new Error(`Cannot use --runs "${runs}": expected a whole number ≥ 1`);
  const selected = ids.length === 0 ? WORKLOADS : WORKLOADS.filter((w) => ids.some((id) => w.id.toUpperCase().startsWith(id)));
  for (const id of ids) {
    if (!WORKLOADS.some((w) => w.id.toUpperCase().startsWith(id))) throw new Error(`Unknown workload "${id}": expected one of ${WORKLOADS.map((w) => w.id).join(", ")}`);
  }
  return { out, quick, runs: runs ?? (quick ? 1 : DEFAULT_RUNS), selected };
}

function gitDescribe(): { commit: string; dirty: boolean } {
  const rev = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT });
  const status = Bun.spawnSync(["git", "status", "--porcelain", "--", "src"], { cwd: REPO_ROOT });
  return { commit: rev.stdout.toString().trim() || "unknown", dirty: status.stdout.toString().trim() !== "" };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "dropsim-bench-"));
  const cleanup = () => {
    killAll();
    fs.rmSync(tmpRoot, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping every process it started`);
      process.exit(130);
    });
  }

  const startedAt = new Date().toISOString();
  const git = gitDescribe();
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  console.error(
    `dropsim bench: ${opts.selected.map((w) => w.id).join(" ")}${opts.quick ? " (--quick)" : ""}, ${opts.runs} run(s) each, ` +
      `${os.cpus().length} cores, bun ${Bun.version}, ${process.env.DROPSIM_BIN ? `DROPSIM_BIN=${process.env.DROPSIM_BIN}` : "bun src/main.ts"}, temp ${tmpRoot}`,
  );

  const results: WorkloadResult[] = [];
  for (const w of opts.selected) {
    const dir = path.join(tmpRoot, w.id);
    fs.mkdirSync(dir, { recursive: true });
    const ctx: BenchContext = {
      quick: opts.quick,
      runs: opts.runs,
      dir,
      progress: (m) => console.error(`[${w.id}] ${m}`),
    };
    console.error(`[${w.id}] ${w.title}`);
    const t0 = performance.now();
    const result: WorkloadResult = { id: w.id, title: w.title, finishedAt: "", quick: opts.quick, runs: opts.runs, seconds: 0, figures: [] };
    try {
      result.figures = await w.run(ctx);
    } catch (e) {
      result.error = e instanceof Error ? e.message : String(e);
      console.error(`[${w.id}] FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    } finally {
      killAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    result.seconds = Math.round((performance.now() - t0) / 100) / 10;
    result.finishedAt = new Date().toISOString();
    console.error(`[${w.id}] done in ${result.seconds} s`);
    results.push(result);
  }

  console.log(`\n${renderTable(results)}\n`);
  const report: BenchReport = {
    startedAt,
    machine: { cores: os.cpus().length, platform: `${os.platform()} ${os.release()}`, bun: Bun.version, dropsim: pkg.version, ...git },
    workloads: results,
  };
  const file = opts.out ? path.resolve(opts.out) : path.join(import.meta.dir, "results", opts.quick ? "quick.json" : "latest.json");
  writeReport(file, report);
  console.log(`Results written to ${path.relative(process.cwd(), file) || file}`);
  return results.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
