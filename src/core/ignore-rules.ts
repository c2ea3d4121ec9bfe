import ignore from "ignore";
import { STATE_DIR } from "./wire-path.ts";

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
  const ig = ignore().add(DEFAULT_IGNORES).add(extra);
  return (path, isDir) => _inStateDir(path) || ig.ignores(isDir ? `${path}/` : path);
}

function _inStateDir(path: string): boolean {
  return path.split("/").some((segment) => segment.toLowerCase() === STATE_DIR);
}
