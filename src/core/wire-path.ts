import { DropsimError } from "./errors.ts";

/** Paths on the wire are relative, "/"-separated and never reach outside the share. */
export const MAX_PATH_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 255;
export const STATE_DIR = ".dropsim";

const encoder = new TextEncoder();

/** Returns why `path` is not acceptable as a wire path, or undefined when it is. */
export function wirePathProblem(path: string): string | undefined {
  if (typeof path !== "string" || path.length === 0) return "it is empty";
  if (path.includes("\0")) return "it contains a NUL character";
  if (path.includes("\\")) return "it contains a backslash";
  if (path.startsWith("/")) return "it is absolute";
  if (/^[A-Za-z]:/.test(path)) return "it starts with a drive letter";
  if (_longerThan(path, MAX_PATH_BYTES)) return `it is longer than ${MAX_PATH_BYTES} bytes`;
  const segments = path.split("/");
  for (const segment of segments) {
    if (segment === "") return "it has an empty segment";
    if (segment === "." || segment === "..") return `it has a "${segment}" segment`;
    if (_longerThan(segment, MAX_SEGMENT_BYTES)) return `a name is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  // Case-insensitively: on macOS and Windows ".DROPSIM" is the state folder itself.
  if (segments[0]!.toLowerCase() === STATE_DIR) return `it is inside ${STATE_DIR}/`;
  return undefined;
}

/**
 * More than `bytes` bytes in UTF-8. A UTF-16 code unit takes at most 3 of them, so most names
 * are settled without encoding them (a scan checks every path it finds).
 */
function _longerThan(text: string, bytes: number): boolean {
  return text.length * 3 > bytes && encoder.encode(text).length > bytes;
}

/** The error that refuses `path`, or undefined when it is acceptable. */
export function wirePathError(path: string): DropsimError | undefined {
  const problem = wirePathProblem(path);
  return problem === undefined ? undefined : new DropsimError("bad_path", `Invalid path "${printable(path)}": ${problem}`);
}

export function assertWirePath(path: string): string {
  const error = wirePathError(path);
  if (error) throw error;
  return path;
}

/** The parent of a wire path, or "" for a top-level entry. */
export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** Every ancestor folder of `path`, outermost first. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

export function isInside(path: string, folder: string): boolean {
  return path.startsWith(folder + "/");
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Depth = number of segments; sorting by it puts parents before children. */
export function depthOf(path: string): number {
  let n = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

function printable(path: string): string {
  const shown = path.length > 80 ? `${path.slice(0, 80)}…` : path;
  return shown.replace(/[\0-\x1f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
