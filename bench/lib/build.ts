import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * The dropsim a bench process runs: this checkout (`bun src/main.ts`, or `DROPSIM_BIN`), or,
 * for `--compare REF`, REF checked out in a git worktree. Workloads never name a build: every
 * process they start runs the active one, so the same workload code measures old and new.
 */
export interface Build {
  /** How tables name it: "new" or "old (d67140f)". */
  label: string;
  /** The argv before dropsim's own arguments. */
  command: readonly string[];
  /** How its server tells bytes on the wire: `serve --http` metrics, or the older `--stats-file`. */
  traffic: "metrics" | "stats-file";
  /** Its server can serve TLS (`--tls`) and wants a token: clients join by `token create`'s link (issue 11). */
  tls: boolean;
}

export const REPO_ROOT = path.resolve(import.meta.dir, "../..");

let active: Build | undefined;

export function activeBuild(): Build {
  if (!active) throw new Error("No dropsim build chosen: call useBuild first");
  return active;
}

export function useBuild(build: Build): void {
  active = build;
}

/** This checkout: `DROPSIM_BIN` if set, else `bun src/main.ts`. */
export function currentBuild(label = "new"): Build {
  const bin = process.env.DROPSIM_BIN;
  const command = bin ? [path.resolve(bin)] : [process.execPath, path.join(REPO_ROOT, "src", "main.ts")];
  return { label, command, ...serveFeatures(command) };
}

/**
 * What `serve --help` offers decides, rather than the commit's date or name: a build from
 * either side of the switch to `--http`, or of TLS and tokens, can be compared with any other.
 */
function serveFeatures(command: readonly string[]): Pick<Build, "traffic" | "tls"> {
  const help = Bun.spawnSync([...command, "serve", "--help"], { env: { ...process.env, NO_COLOR: "1" } });
  const text = help.stdout.toString() + help.stderr.toString();
  const tls = text.includes("--tls-cert");
  if (text.includes("--http")) return { traffic: "metrics", tls };
  if (text.includes("--stats-file")) return { traffic: "stats-file", tls };
  throw new Error(`Cannot tell how ${command.join(" ")} reports bytes on the wire: its "serve --help" offers neither --http nor --stats-file:\n${text}`);
}

/** A checkout of `ref` in a git worktree, removed by `dispose` (also safe in an exit handler). */
export interface WorktreeBuild extends Build {
  dispose(): void;
}

/** Checks `ref` out in a temp git worktree sharing this checkout's node_modules (nothing installed). */
export function worktreeBuild(ref: string): WorktreeBuild {
  const commit = git(["rev-parse", "--short", "--verify", `${ref}^{commit}`]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dropsim-bench-${commit}-`));
  const tree = path.join(dir, "tree");
  const dispose = () => {
    Bun.spawnSync(["git", "worktree", "remove", "--force", tree], { cwd: REPO_ROOT });
    fs.rmSync(dir, { recursive: true, force: true });
    Bun.spawnSync(["git", "worktree", "prune"], { cwd: REPO_ROOT });
  };
  try {
    git(["worktree", "add", "--detach", tree, commit]);
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(tree, "node_modules"));
    const command = [process.execPath, path.join(tree, "src", "main.ts")];
    return { label: `old (${commit})`, command, ...serveFeatures(command), dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

function git(args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], { cwd: REPO_ROOT });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}
