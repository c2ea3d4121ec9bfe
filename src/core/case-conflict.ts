import { labelledName } from "./conflict-name.ts";
import type { EntryKind } from "./entry.ts";
import { baseName, parentOf } from "./wire-path.ts";

/**
 * The key under which a case-insensitive file system finds a name: Unicode normalisation and
 * case folded. Upper then lower case is close to Unicode's full case folding (ß and SS, the
 * Kelvin sign and K, final sigma); folding more than a given file system does only costs a
 * case-conflict copy where none was needed, folding less would let one file replace another.
 */
export function foldName(name: string): string {
  return name.normalize("NFC").toUpperCase().toLowerCase().normalize("NFC");
}

/** `report.pdf` → `report (Case Conflict).pdf` (Dropbox's form), then `(Case Conflict 2)` while `taken`. */
export function caseConflictName(path: string, taken: (p: string) => boolean = () => false): string {
  return labelledName(path, (n) => (n === 1 ? "Case Conflict" : `Case Conflict ${n}`), taken);
}

/** Where an entry lands: `path` itself, or a case-conflict name beside `clash`, the spelling already there. */
export interface Placement {
  path: string;
  clash?: string;
}

/**
 * Where the entry `path` lands in its folder, which lists `siblings`, on a file system that
 * folds names (macOS, Windows, casefold folders): at its own name when that name is there
 * already (the same entry) or no other spelling of it is; else under a case-conflict name, as
 * writing to its own name would replace the other spelling. A folder goes into the
 * case-conflict folder made for it earlier, so that all of its files end up together.
 */
export function placeName(path: string, siblings: ReadonlyMap<string, EntryKind>, kind: EntryKind): Placement {
  const name = baseName(path);
  if (siblings.has(name)) return { path };
  const key = foldName(name);
  const folded = new Set<string>();
  let other: string | undefined;
  for (const s of siblings.keys()) {
    const k = foldName(s);
    folded.add(k);
    if (k === key) other ??= s;
  }
  if (other === undefined) return { path };
  const dir = parentOf(path);
  const taken = (p: string) => {
    const n = baseName(p);
    return !(kind === "dir" && siblings.get(n) === "dir") && folded.has(foldName(n));
  };
  return { path: caseConflictName(path, taken), clash: dir ? `${dir}/${other}` : other };
}
