import { DropsimError, type ErrorCode } from "../core/errors.ts";
import { planRestore, type RestoreInput, type RestorePlan, type RestoreStep } from "../core/restore-plan.ts";
import { wirePathError } from "../core/wire-path.ts";
import { MAX_PAGE, type RestoreChange } from "../protocol/messages.ts";
import type { BlockStore } from "../store/block-store.ts";
import type { JournalRecord, MetaStore, MetaTx } from "../store/meta-store.ts";
import { applyOpsIn, type Commit, findMissingIn } from "./commit.ts";

export interface RestoreRequest {
  /** A wire path, or "" for the whole share. */
  path: string;
  version?: number;
  /** Server ms. */
  at?: number;
  /** The head the asker last saw: what changed after it is kept (see core/restore-plan.ts). */
  seen: number;
  dryRun: boolean;
}

/** Who asks: the restore's rows are theirs, and conflict copies carry their name. */
export interface Restorer {
  clientId: string;
  host: string | undefined;
}

export interface RestoreOutcome {
  /** The seq the path was brought back to. */
  target: number;
  /** The journal's head after the restore. */
  head: number;
  steps: RestoreStep[];
  /** What a real restore committed, for the share's feed; absent for a dry run or nothing to do. */
  commit?: Commit;
}

/**
 * Brings `path` back to how it was right after row `target`, in one transaction stamped as a
 * restore: only appends, so history keeps everything and the restore can itself be undone. The
 * current state is read, planned against and written in that transaction; a restored file whose
 * blocks are gone fails the whole restore and nothing is committed.
 */
export async function restore(meta: MetaStore, blocks: BlockStore, req: RestoreRequest, who: Restorer, now: number, quota: number | null): Promise<RestoreOutcome> {
  const error = req.path === "" ? undefined : wirePathError(req.path);
  if (error) throw error;
  const target = await resolveTarget(meta, req);
  const then = await meta.treeAt(req.path, target);
  const origin = { host: who.host ?? "restore", clientId: who.clientId, date: new Date(now) };
  return meta.transaction({ clientId: who.clientId, at: now, cause: "restore" }, async (tx) => {
    const head = await tx.head();
    // Transactions run one at a time: before this one appends, what is committed is what it sees.
    const current = await meta.treeAt(req.path, head);
    const plan = await planWithFreeNames(tx, req.path, { then, now: current, seen: req.seen, origin });
    if (req.dryRun || plan.ops.length === 0) return { target, head, steps: plan.steps };
    const commit = await applyOpsIn(tx, plan.ops, findMissingIn(blocks), now, quota);
    refuseFailures(req.path, plan, commit);
    return { target, head: commit.head, steps: plan.steps, commit };
  });
}

/** The steps as restore_result tells them: at most a page listed, all of them counted. */
export function summarize(steps: readonly RestoreStep[]): { changes: RestoreChange[]; more: boolean; counts: Record<RestoreStep["action"], number> } {
  const counts = { restore: 0, remove: 0, conflict_copy: 0 };
  for (const s of steps) counts[s.action]++;
  return { changes: steps.slice(0, MAX_PAGE), more: steps.length > MAX_PAGE, counts };
}

/** The seq to restore to: the version asked, the head at the time asked, or for a deleted path the moment before it went. */
async function resolveTarget(meta: MetaStore, req: RestoreRequest): Promise<number> {
  if (req.version !== undefined) {
    const head = await meta.head();
    if (req.version >= 1 && req.version <= head) return req.version;
    throw new DropsimError("not_found", `Nothing to restore: change ${req.version} is not in the journal, whose last change is ${head}`);
  }
  if (req.at !== undefined) {
    const seq = await meta.seqAt(req.at);
    if (seq > 0) return seq;
    throw new DropsimError("not_found", `Nothing to restore: the share has no change at or before ${new Date(req.at).toISOString()}`);
  }
  if (req.path === "") throw new DropsimError("bad_message", "Cannot restore the whole share without a version or a time");
  const [last] = await meta.history({ path: req.path, below: false, limit: 1 });
  if (!last) throw new DropsimError("not_found", `Nothing to restore: "${req.path}" has no history`);
  if (!last.deleted) throw new DropsimError("not_found", `Nothing to restore: "${req.path}" is not deleted; give a version or a time`);
  return beforeDeletion(meta, req.path, last);
}

/**
 * The seq just before `path` was deleted. A folder's children are deleted in the same commit
 * as the folder, just before it: the whole run of that commit's deletions inside it is undone.
 */
async function beforeDeletion(meta: MetaStore, path: string, tombstone: JournalRecord): Promise<number> {
  const rows = await meta.history({ path, below: true, before: tombstone.version + 1, limit: MAX_PAGE });
  let first = tombstone.version;
  for (const r of rows) {
    if (!r.deleted || r.clientId !== tombstone.clientId || r.committedAt !== tombstone.committedAt) break;
    first = r.version;
  }
  return first - 1;
}

/**
 * Plans with conflict-copy names nobody uses. Only the copy of the restored path itself lies
 * outside the entries the plan saw (beside it, in its parent): a name found taken there is
 * added to the names to avoid and the plan made again.
 */
async function planWithFreeNames(tx: MetaTx, root: string, input: Omit<RestoreInput, "taken">): Promise<RestorePlan> {
  const outside = new Set<string>();
  for (;;) {
    const plan = planRestore({ ...input, taken: (p) => outside.has(p) });
    const copy = root === "" ? undefined : plan.steps.find((s) => s.action === "conflict_copy" && s.of === root);
    const there = copy && (await tx.get(copy.path));
    if (!there || there.deleted) return plan;
    outside.add(copy.path);
  }
}

/** A restore commits whole or not at all: any op refused throws, rolling the transaction back. */
function refuseFailures(path: string, plan: RestorePlan, commit: Commit): void {
  const root = path === "" ? "the share" : `"${path}"`;
  commit.results.forEach((r, i) => {
    if (r.status === "ok") return;
    const op = plan.ops[i]!;
    if (r.status === "conflict") throw new DropsimError("internal", `Cannot restore ${root}: "${op.path}" changed while it was being restored`);
    if (r.code === "missing_blocks") {
      throw new DropsimError("missing_blocks", `Cannot restore ${root}: the content of "${op.path}" is no longer stored (its blocks were collected)`);
    }
    throw new DropsimError(r.code as ErrorCode, `Cannot restore ${root}: ${r.message}`);
  });
}
