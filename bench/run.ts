/**
 * dropsim benchmark suite (issue 4): real server and client processes on 127.0.0.1 in temp
 * folders, one workload after another.
 *
 *   bun run bench                 every workload, full size, 3 runs each
 *   bun run bench W3 W4a          some workloads (an id prefix works: W4 = W4a and W4b)
 *   bun run bench --quick         every workload at a small size, 1 run, timings not judged (CI)
 *   bun run bench --runs 5        more runs per workload
 *   bun run bench --out x.json    write the results elsewhere (experiments: keeps latest.json clean)
 *   bun run bench --compare d67140f --runs 3 W1 W3 W7
 *                                 that commit (a git worktree) against this checkout, runs
 *                                 alternating old, new, old, new…; both side by side, new/old
 *
 * Prints one table (median, min – max, target, PASS/MISS) and writes bench/results/latest.json
 * (quick runs: quick.json; --compare: compare.json). DROPSIM_BIN=/path/to/dropsim benchmarks
 * that executable instead of `bun src/main.ts`. Exit code 1 if a workload failed to run (a missed
 * target is reported, not an error).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Build, currentBuild, REPO_ROOT, useBuild, worktreeBuild } from "./lib/build.ts";
import { killAll } from "./lib/proc.ts";
import { type BenchReport, type CompareReport, mergeRuns, renderComparison, renderTable, type WorkloadResult, writeReport } from "./lib/report.ts";
import type { BenchContext, Workload } from "./lib/workload.ts";
import { w1 } from "./workloads/w1-small-files.ts";
import { w2 } from "./workloads/w2-big-file.ts";
import { w3 } from "./workloads/w3-latency.ts";
import { w4a, w4b } from "./workloads/w4-edit.ts";
import { w5 } from "./workloads/w5-memory.ts";
import { w6 } from "./workloads/w6-fanout.ts";
import { w7 } from "./workloads/w7-restart.ts";
import { w8 } from "./workloads/w8-slow-receiver.ts";
import { w9 } from "./workloads/w9-folder-move.ts";
import { w10 } from "./workloads/w10-restore.ts";
import { w11 } from "./workloads/w11-gc.ts";

const WORKLOADS: Workload[] = [w1, w2, w3, w4a, w4b, w5, w6, w7, w8, w9, w10, w11];
const DEFAULT_RUNS = 3;

interface Options {
  out?: string;
  /** A git ref to measure against this checkout. */
  compare?: string;
  quick: boolean;
  runs: number;
  selected: Workload[];
}

function parseArgs(argv: string[]): Options {
  let quick = false;
  let runs: number | undefined;
  let out: string | undefined;
  let compare: string | undefined;
  const ids: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--runs") runs = Number(argv[++i]);
    else if (arg.startsWith("--runs=")) runs = Number(arg.slice("--runs=".length));
    else if (arg === "--out") out = argv[++i];
    else if (arg.startsWith("--out=")) out = arg.slice("--out=".length);
    else if (arg === "--compare") compare = argv[++i] ?? "";
    else if (arg.startsWith("--compare=")) compare = arg.slice("--compare=".length);
    else if (arg === "--help" || arg === "-h") {
      console.log(`usage: bun run bench [--quick] [--runs N] [--out FILE] [--compare REF] [W1 … W11]\n\n${WORKLOADS.map((w) => `  ${w.id.padEnd(4)} ${w.title}`).join("\n")}`);
      process.exit(0);
    } else if (arg.startsWith("-")) throw new Error(`Unknown option "${arg}": see --help`);
    else ids.push(arg.toUpperCase());
  }
  if (compare !== undefined && !compare) throw new Error(`Cannot use --compare without a git ref, e.g. --compare d67140f`);
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) throw new Error(`Cannot use --runs "${runs}": expected a whole number ≥ 1`);
  const selected = ids.length === 0 ? WORKLOADS : WORKLOADS.filter((w) => ids.some((id) => selects(id, w)));
  for (const id of ids) {
    if (!WORKLOADS.some((w) => selects(id, w))) throw new Error(`Unknown workload "${id}": expected one of ${WORKLOADS.map((w) => w.id).join(", ")}`);
  }
  return { out, compare, quick, runs: runs ?? (quick ? 1 : DEFAULT_RUNS), selected };
}

/** An id names its workload, or the workloads it is a prefix of (W4 = W4a and W4b); W1 is W1 alone, not W10 and W11. */
function selects(id: string, w: Workload): boolean {
  const exact = WORKLOADS.some((x) => x.id.toUpperCase() === id);
  return exact ? w.id.toUpperCase() === id : w.id.toUpperCase().startsWith(id);
}

function gitDescribe(): { commit: string; dirty: boolean } {
  const rev = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT });
  const status = Bun.spawnSync(["git", "status", "--porcelain", "--", "src"], { cwd: REPO_ROOT });
  return { commit: rev.stdout.toString().trim() || "unknown", dirty: status.stdout.toString().trim() !== "" };
}

/** One workload, `runs` times, with the active build, in a folder of `tmpRoot` removed afterwards. */
async function runWorkload(w: Workload, quick: boolean, runs: number, tmpRoot: string): Promise<WorkloadResult> {
  const dir = path.join(tmpRoot, w.id);
  fs.mkdirSync(dir, { recursive: true });
  const ctx: BenchContext = { quick, runs, dir, progress: (m) => console.error(`[${w.id}] ${m}`) };
  const t0 = performance.now();
  const result: WorkloadResult = { id: w.id, title: w.title, finishedAt: "", quick, runs, seconds: 0, figures: [] };
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
  return result;
}

/**
 * Each workload once per run and build, the builds taking turns (old, new, old, new…) so that
 * whatever else the machine does weighs on both alike; each build's runs are then pooled.
 */
async function compareBuilds(opts: Options, builds: readonly Build[], tmpRoot: string): Promise<WorkloadResult[][]> {
  const pooled: WorkloadResult[][] = builds.map(() => []);
  for (const w of opts.selected) {
    const perBuild: WorkloadResult[][] = builds.map(() => []);
    for (let run = 1; run <= opts.runs; run++) {
      for (const [i, build] of builds.entries()) {
        useBuild(build);
        console.error(`[${w.id}] ${w.title}: run ${run} of ${opts.runs}, ${build.label}`);
        perBuild[i]!.push(await runWorkload(w, opts.quick, 1, tmpRoot));
      }
    }
    perBuild.forEach((runs, i) => pooled[i]!.push(mergeRuns(runs)));
  }
  return pooled;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "dropsim-bench-"));
  const old = opts.compare ? worktreeBuild(opts.compare) : undefined;
  const cleanup = () => {
    killAll();
    old?.dispose();
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
  const machine: BenchReport["machine"] = { cores: os.cpus().length, platform: `${os.platform()} ${os.release()}`, bun: Bun.version, dropsim: pkg.version, ...git };
  const current = currentBuild();
  const builds = old ? [old, current] : [current];
  console.error(
    `dropsim bench: ${opts.selected.map((w) => w.id).join(" ")}${opts.quick ? " (--quick)" : ""}, ${opts.runs} run(s) each, ` +
      `${os.cpus().length} cores, bun ${Bun.version}, ${builds.map((b) => `${b.label}: ${b.command.join(" ")} (bytes from ${b.traffic})`).join("; ")}, temp ${tmpRoot}`,
  );

  let results: WorkloadResult[];
  let file: string;
  if (old) {
    const [oldResults, newResults] = await compareBuilds(opts, builds, tmpRoot);
    console.log(`\n${renderComparison(oldResults!, newResults!, old.label, current.label)}\n`);
    results = [...oldResults!, ...newResults!];
    const report: CompareReport = { startedAt, machine, old: { label: old.label, workloads: oldResults! }, new: { label: current.label, workloads: newResults! } };
    file = opts.out ? path.resolve(opts.out) : path.join(import.meta.dir, "results", "compare.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  } else {
    useBuild(current);
    results = [];
    for (const w of opts.selected) {
      console.error(`[${w.id}] ${w.title}`);
      results.push(await runWorkload(w, opts.quick, opts.runs, tmpRoot));
    }
    console.log(`\n${renderTable(results)}\n`);
    file = opts.out ? path.resolve(opts.out) : path.join(import.meta.dir, "results", opts.quick ? "quick.json" : "latest.json");
    writeReport(file, { startedAt, machine, workloads: results });
  }
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
