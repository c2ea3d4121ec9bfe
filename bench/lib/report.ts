import * as fs from "node:fs";
import * as path from "node:path";
import { type Figure, figure } from "./workload.ts";

/** The printed table and the JSON file of a bench run. */

export interface WorkloadResult {
  id: string;
  title: string;
  finishedAt: string;
  quick: boolean;
  runs: number;
  seconds: number;
  figures: Figure[];
  error?: string;
}

export interface BenchReport {
  startedAt: string;
  machine: { cores: number; platform: string; bun: string; dropsim: string; commit: string; dirty: boolean };
  workloads: WorkloadResult[];
}

/** `--compare`: each build's workloads, runs pooled. */
export interface CompareReport {
  startedAt: string;
  machine: BenchReport["machine"];
  old: { label: string; workloads: WorkloadResult[] };
  new: { label: string; workloads: WorkloadResult[] };
}

export function formatValue(v: number, unit: string): string {
  if (Number.isNaN(v)) return "—";
  const digits = Number.isInteger(v) || Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  const n = v.toFixed(digits);
  return unit === "" ? n : unit === "×" ? `${n}×` : `${n} ${unit}`;
}

function resultText(f: Figure, quick: boolean): string {
  if (f.note) return f.note;
  if (!f.target) return "";
  if (f.pass === undefined) return quick ? "not judged (--quick)" : "";
  return f.pass ? "PASS" : "MISS";
}

export function renderTable(results: readonly WorkloadResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    if (r.error) {
      rows.push([r.id, "ERROR", "", "", "", "", firstLine(r.error)]);
      continue;
    }
    for (const f of r.figures) {
      const s = f.summary;
      rows.push([f.workload, f.name, formatValue(s.median, f.unit), range(f), String(s.samples.length), f.target?.text ?? "", resultText(f, r.quick)]);
    }
  }
  return layout(["workload", "figure", "median", "min – max", "runs", "target", "result"], rows, (c) => c >= 2 && c <= 4);
}

/**
 * Two builds' results side by side, figure by figure, with the ratio of their medians: what
 * "within 10 % of before" is read from.
 */
export function renderComparison(old: readonly WorkloadResult[], neu: readonly WorkloadResult[], oldLabel: string, newLabel: string): string {
  const rows: string[][] = [];
  for (const o of old) {
    const n = neu.find((r) => r.id === o.id);
    if (o.error || !n || n.error) {
      rows.push([o.id, "ERROR", "", "", "", "", firstLine(o.error ?? n?.error ?? "not run with the new build")]);
      continue;
    }
    for (const f of o.figures) {
      const g = n.figures.find((x) => x.name === f.name);
      const ratio = g && f.summary.median !== 0 ? g.summary.median / f.summary.median : Number.NaN;
      rows.push([
        f.workload,
        f.name,
        formatValue(f.summary.median, f.unit),
        range(f),
        g ? formatValue(g.summary.median, g.unit) : "—",
        g ? range(g) : "",
        Number.isFinite(ratio) ? `${ratio.toFixed(2)} (${ratio >= 1 ? "+" : "−"}${Math.abs((ratio - 1) * 100).toFixed(0)} %)` : "—",
      ]);
    }
  }
  return layout(["workload", "figure", oldLabel, "min – max", newLabel, "min – max", "new/old"], rows, (c) => c >= 2);
}

/** A workload's runs, each made on its own (as `--compare` does), as one result: samples pooled per figure. */
export function mergeRuns(runs: readonly WorkloadResult[]): WorkloadResult {
  const last = runs.at(-1)!;
  const byName = new Map<string, Figure[]>();
  for (const r of runs) for (const f of r.figures) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  const figures = [...byName.values()].map((list) => {
    const f = list[0]!;
    const samples = list.flatMap((x) => x.summary.samples);
    return samples.length === 0 ? f : figure(f.workload, f.name, f.unit, samples, f.target, last.quick);
  });
  const failed = runs.find((r) => r.error);
  const seconds = Math.round(runs.reduce((n, r) => n + r.seconds, 0) * 10) / 10;
  return { ...last, runs: runs.length, seconds, figures, ...(failed ? { error: failed.error } : {}) };
}

function range(f: Figure): string {
  const s = f.summary;
  return s.samples.length > 1 ? `${formatValue(s.min, f.unit)} – ${formatValue(s.max, f.unit)}` : "";
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.slice(0, 100);
}

/** Columns padded to their widest cell (`right` ones aligned right), a blank line between workloads. */
function layout(header: string[], rows: readonly string[][], right: (column: number) => boolean): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  const line = (row: readonly string[]) => row.map((cell, c) => (right(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd();
  const out = [line(header), widths.map((w) => "-".repeat(w)).join("  ")];
  let prev = "";
  for (const row of rows) {
    if (prev && row[0] !== prev) out.push("");
    prev = row[0]!;
    out.push(line(row));
  }
  return out.join("\n");
}

/**
 * Writes `file`. A run of a few workloads updates just those in an existing report of the same
 * kind (full or quick), so the file always holds the latest figures of every workload.
 */
export function writeReport(file: string, report: BenchReport): BenchReport {
  let merged = report;
  try {
    const old = JSON.parse(fs.readFileSync(file, "utf8")) as BenchReport;
    const fresh = new Set(report.workloads.map((w) => w.id));
    const kept = old.workloads.filter((w) => !fresh.has(w.id) && w.quick === report.workloads[0]?.quick);
    merged = { ...report, workloads: sortById([...kept, ...report.workloads]) };
  } catch {
    // No previous report (or an unreadable one): this run's figures alone.
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
  return merged;
}

function sortById(list: WorkloadResult[]): WorkloadResult[] {
  return [...list].sort((a, b) => a.id.localeCompare(b.id));
}
