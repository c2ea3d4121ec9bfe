import * as fs from "node:fs";
import * as path from "node:path";
import type { Figure } from "./workload.ts";

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
  const rows: string[][] = [["workload", "figure", "median", "min – max", "runs", "target", "result"]];
  for (const r of results) {
    if (r.error) {
      rows.push([r.id, "ERROR", "", "", "", "", r.error.split("\n")[0]!.slice(0, 100)]);
      continue;
    }
    for (const f of r.figures) {
      const s = f.summary;
      rows.push([
        f.workload,
        f.name,
        formatValue(s.median, f.unit),
        s.samples.length > 1 ? `${formatValue(s.min, f.unit)} – ${formatValue(s.max, f.unit)}` : "",
        String(s.samples.length),
        f.target?.text ?? "",
        resultText(f, r.quick),
      ]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => (c >= 2 && c <= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd();
  const out = [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  ")];
  let prev = "";
  for (const row of rows.slice(1)) {
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
