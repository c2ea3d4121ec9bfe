import { z } from "zod";
import { HASH_HEX } from "../core/block-hash.ts";
import { DropsimError } from "../core/errors.ts";
import { type BlockRef, MAX_TARGET_BYTES, symlinkTargetProblem } from "../core/entry.ts";
import { wirePathProblem } from "../core/wire-path.ts";
import { XATTR_LIMIT, xattrSetProblem } from "../core/xattrs.ts";

/**
 * One schema per control message, shared by both sides. Objects are strict: an unexpected
 * field is as much a protocol error as a missing one. Array lengths are capped so that a
 * single message can never ask for unbounded work.
 */
/**
 * 2: hello names a share and carries a token; welcome says the share and the token's scope;
 * entries may be symlinks and carry xattrs (a version-1 client refuses those, so it is told
 * to upgrade instead of stopping on its first symlink).
 * 3: a client may send `streaming` (the blocks of a new file it is still uploading) and is
 * sent `incoming` (those of another client's). A server still speaks 2 to a client that says
 * so, without either: servers are upgraded first, and their older clients keep syncing.
 */
export const PROTOCOL_VERSION = 3;
/** The oldest protocol a server still speaks. */
export const OLDEST_PROTOCOL = 2;
export const MAX_LIST = 10_000;

const id = z.number().int().nonnegative();
const seq = z.number().int().nonnegative();
const HASH_MESSAGE = "expected a 64-digit lowercase hex SHA-256";
const hash = z.string().regex(HASH_HEX, HASH_MESSAGE);
const wirePath = z.string().superRefine((p, ctx) => {
  const problem = wirePathProblem(p);
  if (problem) ctx.addIssue({ code: "custom", message: `invalid path: ${problem}` });
});
/**
 * Paths of ops are checked by the server op by op (server/commit.ts), not here: a name one
 * side cannot take (a backslash is legal on Linux) fails its own op, never the whole batch.
 */
const opPath = z.string();
const kind = z.enum(["file", "dir", "symlink"]);
/** A symlink's target travels verbatim, as the link holds it; nobody resolves it. */
const target = z.string().max(MAX_TARGET_BYTES).superRefine((t, ctx) => {
  const problem = symlinkTargetProblem(t);
  if (problem) ctx.addIssue({ code: "custom", message: `invalid symlink target: ${problem}` });
});
/**
 * A file's extended attributes: the canonical set of core/xattrs.ts (sorted, distinct names,
 * canonical base64, at most XATTR_LIMIT bytes in all). No attributes is no field, never [].
 */
const XATTR_NAME_MAX = 1024;
const xattrs = z
  .array(z.tuple([z.string().min(1).max(XATTR_NAME_MAX), z.string().max(Math.ceil(XATTR_LIMIT / 3) * 4)]).readonly())
  .min(1)
  .max(XATTR_LIMIT)
  .superRefine((set, ctx) => {
    const problem = xattrSetProblem(set);
    if (problem) ctx.addIssue({ code: "custom", message: `invalid extended attributes: ${problem}` });
  })
  .readonly();
const mode = z.number().int().min(0).max(0o7777);
const size = z.number().int().nonnegative();
/**
 * A block list of at most `max` [hash, size] pairs, checked in place by one loop. zod's own
 * array-of-tuples schema copies every pair it checks: a big file's 16,000 blocks cost ~8 MiB
 * and ~10 ms per message that carries them (a commit's apply, its reply and its push), the
 * peak of every process in W5.
 */
function blockList(min: number, max: number) {
  return z.custom<BlockRef[]>().superRefine((v, ctx) => {
    if (!Array.isArray(v)) return ctx.addIssue({ code: "custom", message: "expected a list of [hash, size] pairs" });
    if (v.length < min || v.length > max) return ctx.addIssue({ code: "custom", message: `expected ${min}–${max} blocks, got ${v.length}` });
    for (let i = 0; i < v.length; i++) {
      const ref: unknown = v[i];
      if (!Array.isArray(ref) || ref.length !== 2) return ctx.addIssue({ code: "custom", path: [i], message: "expected a [hash, size] pair" });
      if (typeof ref[0] !== "string" || !HASH_HEX.test(ref[0])) return ctx.addIssue({ code: "custom", path: [i, 0], message: HASH_MESSAGE });
      if (!Number.isSafeInteger(ref[1]) || ref[1] <= 0) return ctx.addIssue({ code: "custom", path: [i, 1], message: "expected a positive integer" });
    }
  });
}
const blocks = blockList(0, MAX_LIST * 10);
/** See core/block-splice.ts. Exactly one of `blocks` and `splice` is checked where it is used. */
const splice = z.strictObject({ base: seq, at: z.number().int().nonnegative(), drop: z.number().int().nonnegative(), insert: blocks });

interface Shape {
  kind: string;
  target?: string;
  xattrs?: readonly unknown[];
  blocks?: unknown[];
  splice?: unknown;
  deleted?: boolean;
}

/**
 * A live symlink carries its target and nothing of a file (no blocks, no splice); nothing
 * else carries a target. Whether the target matches the size and hash is the server's check.
 * Only a live file carries extended attributes.
 */
function entryShape(v: Shape, ctx: z.RefinementCtx): void {
  if (v.xattrs !== undefined && (v.kind !== "file" || v.deleted)) {
    ctx.addIssue({ code: "custom", path: ["xattrs"], message: "only a file has extended attributes" });
  }
  const link = v.kind === "symlink" && !v.deleted;
  if (link !== (v.target !== undefined)) {
    ctx.addIssue({ code: "custom", path: ["target"], message: link ? "a symlink needs its target" : "only a symlink has a target" });
  }
  if (link && (v.splice !== undefined || (v.blocks?.length ?? 0) > 0)) {
    ctx.addIssue({ code: "custom", path: ["blocks"], message: "a symlink has no blocks" });
  }
}

export const entrySchema = z.strictObject({
  path: wirePath,
  kind,
  size,
  mode,
  hash: z.union([hash, z.literal("")]),
  blocks: blocks.optional(),
  splice: splice.optional(),
  version: seq,
  deleted: z.boolean(),
  mtime: z.number(),
  movedFrom: wirePath.optional(),
  target: target.optional(),
  xattrs: xattrs.optional(),
}).superRefine(entryShape);

const putOp = z.strictObject({
  op: z.literal("put"),
  path: opPath,
  kind,
  baseVersion: seq,
  size,
  mode,
  hash: z.union([hash, z.literal("")]),
  blocks: blocks.optional(),
  splice: splice.optional(),
  mtime: z.number(),
  target: target.optional(),
  xattrs: xattrs.optional(),
}).superRefine(entryShape);
const deleteOp = z.strictObject({ op: z.literal("delete"), path: opPath, baseVersion: seq });
const moveOp = z.strictObject({ op: z.literal("move"), from: opPath, to: opPath, baseVersion: seq });
export const opSchema = z.discriminatedUnion("op", [putOp, deleteOp, moveOp]);

const errorCode = z.string().max(64);

/** History, trash and restore (issue 12) name a path or "" for the whole share; the server checks it like an op's path. */
const queryPath = z.string().max(4096);
/** Rows a history or trash page holds at most: each row is small, the frame stays far below its limit. */
export const MAX_PAGE = 1000;
const clientName = z.string().max(255).nullable();
const historyRow = z.strictObject({
  seq,
  path: wirePath,
  kind,
  /** What the row did to its path: a conflict copy is a file put under a conflicted-copy name. */
  change: z.enum(["create", "edit", "move", "delete", "conflict", "restore"]),
  size,
  /** Server ms; null in rows from before stamps were kept. */
  at: z.number().nullable(),
  clientId: clientName,
  host: clientName,
  movedFrom: wirePath.optional(),
});
const trashRow = z.strictObject({
  path: wirePath,
  kind,
  /** The deletion's seq, and the last live version's (what \`restore PATH\` brings back). */
  seq,
  version: seq,
  size,
  at: z.number().nullable(),
  clientId: clientName,
  host: clientName,
});
const restoreChange = z.strictObject({
  path: wirePath,
  /** restore: the path gets its old content back; remove: it goes to the trash; conflict_copy: changed since the restore was asked, so the old content goes beside it as \`path\`, from \`of\`. */
  action: z.enum(["restore", "remove", "conflict_copy"]),
  kind,
  size,
  of: wirePath.optional(),
});

const opResult = z.discriminatedUnion("status", [
  z.strictObject({ status: z.literal("ok"), entries: z.array(entrySchema) }),
  z.strictObject({ status: z.literal("conflict"), current: entrySchema.nullable() }),
  z.strictObject({ status: z.literal("error"), code: errorCode, message: z.string() }),
]);

/** Messages a client sends. */
export const clientMessages = {
  hello: z.strictObject({
    type: z.literal("hello"),
    id,
    protocol: z.number().int(),
    clientId: z.string().min(1).max(128),
    host: z.string().max(255).optional(),
    /** Optional in the schema so that a hello without them is refused as `no_token`, in words, not as a malformed message. */
    share: z.string().min(1).max(64).optional(),
    token: z.string().min(1).max(256).optional(),
  }),
  changes: z.strictObject({ type: z.literal("changes"), id, since: seq, limit: z.number().int().min(1).max(MAX_LIST).optional() }),
  has_blocks: z.strictObject({ type: z.literal("has_blocks"), id, hashes: z.array(hash).max(MAX_LIST) }),
  get_blocks: z.strictObject({ type: z.literal("get_blocks"), id, hashes: z.array(hash).max(MAX_LIST) }),
  apply: z.strictObject({ type: z.literal("apply"), id, ops: z.array(opSchema).min(1).max(MAX_LIST) }),
  bye: z.strictObject({ type: z.literal("bye") }),
  /** Sent on a quiet connection: any frame back proves the server and the path to it alive. */
  ping: z.strictObject({ type: z.literal("ping"), id }),
  /**
   * The next blocks of a new file this client is uploading, in file order from block number
   * \`from\`, once the server has been sent each of them; not answered. The server tells the
   * share's other clients (\`incoming\`), which may fetch them before the file is committed.
   */
  streaming: z.strictObject({ type: z.literal("streaming"), path: wirePath, size, from: seq, blocks: blockList(1, MAX_LIST) }),
  /** The versions of a file, or with \`below\` the changes inside a folder, newest first. */
  history: z.strictObject({ type: z.literal("history"), id, path: queryPath, below: z.boolean(), before: seq.optional(), limit: z.number().int().min(1).max(MAX_PAGE).optional() }),
  trash: z.strictObject({ type: z.literal("trash"), id, path: queryPath, before: seq.optional(), limit: z.number().int().min(1).max(MAX_PAGE).optional() }),
  /**
   * Brings \`path\` back to how it was right after row \`version\`, or at time \`at\` (server ms), or
   * with neither a deleted path to its last live version. \`seen\`: the head the asker last saw;
   * what changed after it is kept, and the old content goes beside it as a conflict copy.
   */
  restore: z.strictObject({
    type: z.literal("restore"),
    id,
    path: queryPath,
    version: seq.optional(),
    at: z.number().optional(),
    seen: seq,
    dryRun: z.boolean(),
  }),
};

/** Messages a server sends. */
export const serverMessages = {
  welcome: z.strictObject({
    type: z.literal("welcome"),
    id,
    protocol: z.number().int(),
    serverId: z.string(),
    head: seq,
    share: z.string(),
    /** What the token allows: a read-only client downloads and never uploads. */
    scope: z.enum(["read_write", "read_only"]),
  }),
  changes_result: z.strictObject({
    type: z.literal("changes_result"),
    id,
    head: seq,
    entries: z.array(entrySchema).max(MAX_LIST),
    more: z.boolean(),
  }),
  missing: z.strictObject({ type: z.literal("missing"), id, hashes: z.array(hash).max(MAX_LIST) }),
  blocks_done: z.strictObject({ type: z.literal("blocks_done"), id, missing: z.array(hash).max(MAX_LIST) }),
  applied: z.strictObject({ type: z.literal("applied"), id, head: seq, results: z.array(opResult).max(MAX_LIST) }),
  pong: z.strictObject({ type: z.literal("pong"), id }),
  changed: z.strictObject({ type: z.literal("changed"), from: seq, head: seq, entries: z.array(entrySchema) }),
  /** Another client's \`streaming\`, as it said it: blocks the server holds, of a file not committed yet. */
  incoming: z.strictObject({ type: z.literal("incoming"), path: wirePath, size, from: seq, blocks: blockList(1, MAX_LIST) }),
  error: z.strictObject({ type: z.literal("error"), id: id.optional(), code: errorCode, message: z.string() }),
  history_result: z.strictObject({ type: z.literal("history_result"), id, rows: z.array(historyRow).max(MAX_PAGE), more: z.boolean() }),
  trash_result: z.strictObject({ type: z.literal("trash_result"), id, items: z.array(trashRow).max(MAX_PAGE), more: z.boolean() }),
  /**
   * \`target\`: the seq restored to; \`changes\` lists at most MAX_PAGE of them (\`more\` says the
   * list is cut), \`counts\` all of them; \`head\` is the journal after the restore (unchanged for a dry run).
   */
  restore_result: z.strictObject({
    type: z.literal("restore_result"),
    id,
    head: seq,
    target: seq,
    changes: z.array(restoreChange).max(MAX_PAGE),
    more: z.boolean(),
    counts: z.strictObject({ restore: z.number().int().nonnegative(), remove: z.number().int().nonnegative(), conflict_copy: z.number().int().nonnegative() }),
  }),
};

type Infer<T extends Record<string, z.ZodType>> = { [K in keyof T]: z.infer<T[K]> }[keyof T];
export type ClientMessage = Infer<typeof clientMessages>;
export type ServerMessage = Infer<typeof serverMessages>;
export type Op = z.infer<typeof opSchema>;
export type PutOp = Extract<Op, { op: "put" }>;
export type OpResult = z.infer<typeof opResult>;
export type HistoryRow = z.infer<typeof historyRow>;
export type TrashRow = z.infer<typeof trashRow>;
export type RestoreChange = z.infer<typeof restoreChange>;
export type MessageOf<M, T> = Extract<M, { type: T }>;

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A control frame's body as text: `encodeFrame` writes it into the frame as UTF-8. */
export function encodeMessage(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message);
}

/** Parses and validates one control frame body against the schemas of one direction. */
export function decodeMessage<S extends Record<string, z.ZodType>>(schemas: S, body: Uint8Array): Infer<S> {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw new DropsimError("bad_message", "Received a control message that is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DropsimError("bad_message", `Received a control message that is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DropsimError("bad_message", "Received a control message that is not a JSON object");
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string") throw new DropsimError("bad_message", 'Received a control message without a string "type" field');
  const schema = Object.hasOwn(schemas, type) ? schemas[type] : undefined;
  if (!schema) throw new DropsimError("unknown_type", `Received a message of unknown type "${type.slice(0, 64)}"`);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new DropsimError("bad_message", `Received an invalid "${type}" message${where}: ${issue.message}`);
  }
  return parsed.data as Infer<S>;
}

/** The id of a request, if a malformed message still carried one: lets error replies be matched. */
export function salvageId(body: Uint8Array): number | undefined {
  try {
    const v = JSON.parse(decoder.decode(body)) as { id?: unknown };
    return typeof v.id === "number" && Number.isSafeInteger(v.id) && v.id >= 0 ? v.id : undefined;
  } catch {
    return undefined;
  }
}
