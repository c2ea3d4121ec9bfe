import * as fs from "node:fs";
import * as path from "node:path";
import { type Summary, summarize } from "./stats.ts";

/** What every workload gets, and what it gives back. */
export interface BenchContext {
  quick: boolean;
  /** Repetitions per workload (≥ 3 for a full run, 1 in --quick). */
  runs: number;
  /** A fresh folder for this workload, removed afterwards. */
  dir: string;
  progress(message: string): void;
}

export interface Workload {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

/** A target a figure must meet: `value` compared with `op`. */
export interface Target {
  op: "<=" | ">=";
  value: number;
  /** How it reads in the table, e.g. "≤ 70 ms" or "≤ 1.25× rsync". */
  text: string;
}

export interface Figure {
  workload: string;
  name: string;
  unit: string;
  summary: Summary;
  target?: Target;
  /** undefined when there is no target, or in --quick (sizes too small to judge). */
  pass?: boolean;
  /** Why there is no value, e.g. "rsync not installed". */
  note?: string;
}

export function figure(workload: string, name: string, unit: string, samples: number[], target?: Target, quick = false): Figure {
  const summary = summarize(samples);
  const pass = target && !quick ? (target.op === "<=" ? summary.median <= target.value : summary.median >= target.value) : undefined;
  return { workload, name, unit, summary, target, pass };
}

export function absentFigure(workload: string, name: string, note: string, target?: Target): Figure {
  return { workload, name, unit: "", summary: { median: Number.NaN, min: Number.NaN, max: Number.NaN, samples: [] }, target, note };
}

/** Collects named samples over runs: `add({a: 1, b: 2})` once per run, then `get("a")`. */
export class Samples {
  private readonly values = new Map<string, number[]>();

  add(run: Record<string, number | undefined>): void {
    for (const [k, v] of Object.entries(run)) {
      if (v === undefined || Number.isNaN(v)) continue;
      const list = this.values.get(k) ?? [];
      list.push(v);
      this.values.set(k, list);
    }
  }

  get(name: string): number[] {
    return this.values.get(name) ?? [];
  }
}

/** A per-run subfolder of the workload's folder; removed by the caller when the run ends. */
export function runDir(ctx: BenchContext, run: number): string {
  const dir = path.join(ctx.dir, `run${run}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** KiB figures from /proc, in MiB. */
export function mib(kib: Record<string, number | undefined>): Record<string, number | undefined> {
  return Object.fromEntries(Object.entries(kib).map(([k, v]) => [k, v === undefined ? undefined : v / 1024]));
}
