import { parentOf, baseName } from "./wire-path.ts";

/**
 * `report.pdf` → `report (conflicted copy from HOST 2026-11-24).pdf`, the name people know
 * from Dropbox. `taken` lets the caller add a counter when that name is already used.
 */
export function conflictName(path: string, host: string, date: Date, taken: (p: string) => boolean = () => false): string {
  const dir = parentOf(path);
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  const day = date.toISOString().slice(0, 10);
  const safeHost = host.replace(/[/\\\0]/g, "_");
  for (let n = 1; ; n++) {
    const label = n === 1 ? `conflicted copy from ${safeHost} ${day}` : `conflicted copy ${n} from ${safeHost} ${day}`;
    const candidate = `${dir ? `${dir}/` : ""}${stem} (${label})${ext}`;
    if (!taken(candidate)) return candidate;
  }
}
