import { type Content, type Entry, sameContent } from "./entry.ts";
import { depthOf, parentOf } from "./wire-path.ts";

/**
 * The three-tree planner. For one path it sees:
 *   remote — the server's newest entry, or undefined when there is no news since `synced`;
 *   local  — what the folder holds now, or undefined when nothing is there;
 *   synced — what both sides last agreed on (the merge base), or undefined.
 * It returns what to do. It never does I/O and never looks at a clock.
 */
export type Action =
  | { type: "none"; path: string }
  /** Both sides already agree: only the merge base moves to `entry`. */
  | { type: "record"; path: string; entry: Entry }
  | { type: "upload"; path: string; baseVersion: number }
  | { type: "delete_remote"; path: string; baseVersion: number }
  | { type: "download"; path: string; entry: Entry }
  | { type: "delete_local"; path: string; entry: Entry }
  /** Local bytes move aside under a conflict name (then upload as a new file); the remote entry takes the path. */
  | { type: "conflict_copy"; path: string; entry: Entry };

export function planPath(path: string, remote: Entry | undefined, local: Content | undefined, synced: Entry | undefined): Action {
  const base = synced && !synced.deleted ? synced : undefined;
  // Versions are journal positions: an entry no newer than the merge base is old news (a late
  // push of our own earlier commit), and acting on it would write older bytes over newer ones.
  const remoteNews = remote !== undefined && remote.version > (synced?.version ?? 0);
  const localChanged = !sameContent(local, base);

  if (!remoteNews) {
    if (!localChanged) return { type: "none", path };
    const baseVersion = synced?.version ?? 0;
    return local ? { type: "upload", path, baseVersion } : { type: "delete_remote", path, baseVersion };
  }

  const theirs = remote.deleted ? undefined : remote;
  if (sameContent(local, theirs)) return { type: "record", path, entry: remote };
  if (!localChanged) {
    return theirs ? { type: "download", path, entry: remote } : { type: "delete_local", path, entry: remote };
  }
  // Both sides changed, differently. Nobody's write is dropped:
  if (!theirs) return { type: "upload", path, baseVersion: remote.version }; // edit beats delete
  if (!local) return { type: "download", path, entry: remote }; // a remote edit restores a local delete
  if (local.kind === "dir" && theirs.kind === "dir") return { type: "record", path, entry: remote };
  return { type: "conflict_copy", path, entry: remote };
}

/**
 * Plans every path in the union of the three trees. Order keeps the structural invariants:
 * children are deleted before their folder (and before a file replaces it), folders are
 * created before their children.
 */
export function reconcile(
  remote: ReadonlyMap<string, Entry>,
  local: ReadonlyMap<string, Content>,
  synced: ReadonlyMap<string, Entry>,
): Action[] {
  const paths = new Set([...remote.keys(), ...local.keys(), ...synced.keys()]);
  const planned = new Map<string, Action>();
  for (const path of paths) planned.set(path, planPath(path, remote.get(path), local.get(path), synced.get(path)));
  // A local folder that still holds something this plan keeps can be neither removed nor
  // replaced by a file: it is re-created remotely (edit beats delete) or moved aside.
  const holds = new Set<string>();
  for (const p of local.keys()) {
    if (planned.get(p)!.type === "delete_local") continue;
    for (let q = parentOf(p); q !== "" && !holds.has(q); q = parentOf(q)) holds.add(q);
  }
  const actions: Action[] = [];
  for (let action of planned.values()) {
    if (holds.has(action.path) && local.get(action.path)?.kind === "dir") {
      if (action.type === "delete_local") action = { type: "upload", path: action.path, baseVersion: action.entry.version };
      else if (action.type === "download" && action.entry.kind !== "dir") action = { type: "conflict_copy", path: action.path, entry: action.entry };
    }
    if (action.type !== "none") actions.push(action);
  }
  return actions.sort(compareActions);
}

function isRemoval(a: Action): boolean {
  return a.type === "delete_local" || a.type === "delete_remote";
}

function compareActions(a: Action, b: Action): number {
  const ra = isRemoval(a);
  const rb = isRemoval(b);
  // Removals first, deepest first: a folder is emptied before it is removed or replaced by a file.
  if (ra !== rb) return ra ? -1 : 1;
  const d = depthOf(a.path) - depthOf(b.path);
  if (d !== 0) return ra ? -d : d;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
