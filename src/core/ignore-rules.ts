import ignore from "ignore";
import { DropsimError } from "./errors.ts";
import { isInside, STATE_DIR, wirePathProblem } from "./wire-path.ts";

/**
 * Editor swap files, OS metadata and partial downloads of other tools: syncing them only
 * produces conflicts and noise, so they are ignored unless a user un-ignores them.
 */
export const DEFAULT_IGNORES = [
  "*.swp",
  "*.swo",
  "*.swx",
  "*~",
  "~$*",
  ".~lock.*#",
  ".#*",
  "\\#*#", // a leading "#" would make the line a comment
  ".DS_Store",
  "._*",
  ".Spotlight-V100",
  ".Trashes",
  ".fseventsd",
  "Thumbs.db",
  "ehthumbs.db",
  "desktop.ini",
  "*.tmp",
  "*.part",
  "*.crdownload",
  ".dropsim-tmp-*",
];

export type IgnoreRules = (path: string, isDir: boolean) => boolean;

/**
 * Builds the ignore predicate from the defaults plus a `.dropsimignore` (gitignore syntax).
 * A state folder at any depth is ignored whatever the rules say: the one at the top is this
 * client's, a deeper one belongs to a sync folder nested in this one, and syncing either would
 * copy a client's database and lock into other folders. Case-insensitively, as wire paths are.
 */
export function makeIgnoreRules(extra = ""): IgnoreRules {
  const matcher = () => ignore().add(DEFAULT_IGNORES).add(extra);
  let ig = matcher();
  let checks = 0;
  return (path, isDir) => {
    if (++checks % CHECKS_PER_MATCHER === 0) ig = matcher();
    return _inStateDir(path) || ig.ignores(isDir ? `${path}/` : path);
  };
}

/**
 * Checks answered by one matcher before a fresh one replaces it. The `ignore` package keeps the
 * answer for every path it was ever asked about: a rescan of 100,000 files held ~5 MiB of them
 * (W7's restart), and a client running for weeks beside a program that makes ever new temp
 * names would grow without end. A matcher takes ~0.2 ms to build, and a small cache is faster
 * to look in: 100,000 checks took 220 ms instead of 360.
 */
const CHECKS_PER_MATCHER = 4096;

function _inStateDir(path: string): boolean {
  return path.split("/").some((segment) => segment.toLowerCase() === STATE_DIR);
}

/**
 * A path for selective sync (`dropsim exclude/include`, `sync --exclude`) as a wire path:
 * "docs/old/" → "docs/old". Refused: the whole folder, and anything that is no path inside it.
 */
export function selectivePath(path: string): string {
  const p = path.replace(/\/+$/, "");
  const problem = wirePathProblem(p);
  if (problem === undefined) return p;
  const why = problem === "it is empty" ? "that is the whole synced folder" : problem;
  throw new DropsimError("bad_path", `Cannot exclude or include "${path}": ${why} (give a file or folder inside the synced folder)`);
}

/** True when `path` is one of the `excluded` paths or lies inside one. */
export function isExcluded(excluded: readonly string[], path: string): boolean {
  return excluded.some((x) => path === x || isInside(path, x));
}
