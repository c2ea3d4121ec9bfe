import { defineCommand } from "citty";
import * as os from "node:os";
import { mintToken, type Scope } from "../core/access-token.ts";
import { DropsimError } from "../core/errors.ts";
import { formatJoinLink } from "../core/join-link.ts";
import { dataDirIdentity } from "../server/identity.ts";
import { noSuchShare } from "../store/access-store.ts";
import { dataArg, isoTime, sayingRefusals, table, withAccess } from "./admin.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseDuration, parseServerAddress } from "./options.ts";

const create = defineCommand({
  meta: {
    name: "create",
    description: "Create a token for a share; it is printed once, with a join link",
    examples: ["dropsim token create --share default", "dropsim token create --share team --read-only --expires 30d --label laptop", "dropsim token create --share team --address server.example:7070 --json"],
  },
  args: {
    share: { type: "string", description: "The share it opens", required: true },
    "read-only": { type: "boolean", description: "Download only: the server refuses every change", default: false },
    expires: { type: "string", description: "Stop working after this long, e.g. 30d or 12h (default: never)" },
    label: { type: "string", description: "A name to tell it apart in `token list`, e.g. laptop" },
    address: { type: "string", description: "HOST:PORT for the join link (default: where the server on this data dir last listened)" },
    json: { type: "boolean", description: 'Print {"id", "token", "join", "share", "scope", "expires"}', default: false },
    ...dataArg,
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "token");
    return sayingRefusals(log, async () => {
      const now = Date.now();
      const expires = args.expires === undefined ? null : now + parseDuration(args.expires);
      const scope: Scope = args["read-only"] ? "read_only" : "read_write";
      const address = args.address === undefined ? undefined : parseServerAddress(args.address);
      const minted = mintToken();
      const { listening, root } = await withAccess(args.data, (access, root) => {
        if (!access.share(args.share)) throw noSuchShare(args.share);
        access.addToken({ id: minted.id, secretHash: minted.secretHash, share: args.share, scope, label: args.label ?? null, expires }, now);
        return { listening: access.listening(), root };
      });
      // What the server recorded at its start is what it shows (nothing with --insecure); before
      // any start, the data dir's own identity, which serve makes and uses by default.
      const fingerprint = listening ? listening.fingerprint : address && (await dataDirIdentity(root)).fingerprint;
      const join = _joinLink(args.share, minted.token, address ?? (listening && parseServerAddress(listening.address)), fingerprint ?? undefined);
      if (args.json) {
        console.log(JSON.stringify({ id: minted.id, token: minted.token, join: join ?? null, share: args.share, scope, expires: isoTime(expires) }));
        return;
      }
      console.log(`Token ${minted.id} for share "${args.share}" (${scope === "read_only" ? "read-only" : "read-write"}${expires === null ? "" : `, expires ${isoTime(expires)}`}); it is shown only this once:`);
      console.log(minted.token);
      if (join) console.log(`Join link: ${join}`);
      else log.warn("No join link: no server has listened on this data dir yet; pass --address HOST:PORT to print one");
    });
  },
});

/**
 * A server listening on every interface recorded 0.0.0.0 or ::, which no client can dial: the
 * machine's name stands in for it. The fingerprint is the server's whatever address reaches it.
 */
function _joinLink(share: string, token: string, where: { host: string; port: number } | undefined, fingerprint: string | undefined): string | undefined {
  if (!where) return undefined;
  const host = where.host === "0.0.0.0" || where.host === "::" ? os.hostname() : where.host;
  return formatJoinLink({ host, port: where.port, share, token, ...(fingerprint ? { fingerprint } : {}) });
}

const list = defineCommand({
  meta: {
    name: "list",
    description: "List tokens (never their secrets)",
    examples: ["dropsim token list", "dropsim token list --share team --json"],
  },
  args: {
    share: { type: "string", description: "Only the tokens of this share" },
    json: { type: "boolean", description: "Print JSON", default: false },
    ...dataArg,
  },
  async run({ args }) {
    const tokens = await withAccess(args.data, (access) => access.tokens(args.share));
    const rows = tokens.map((t) => ({
      id: t.id,
      label: t.label,
      share: t.share,
      scope: t.scope,
      created: isoTime(t.created),
      lastUsed: isoTime(t.lastUsed),
      expires: isoTime(t.expires),
      revoked: isoTime(t.revoked),
    }));
    if (args.json) {
      console.log(JSON.stringify(rows));
      return;
    }
    const header = ["ID", "LABEL", "SHARE", "SCOPE", "CREATED", "LAST USED", "EXPIRES", "REVOKED"];
    console.log(table(header, rows.map((r) => [r.id, r.label ?? "-", r.share, r.scope, r.created!, r.lastUsed ?? "never", r.expires ?? "never", r.revoked ?? "-"])));
  },
});

const revoke = defineCommand({
  meta: {
    name: "revoke",
    description: "Revoke a token: a running server refuses it and closes its sessions within a second",
    examples: ["dropsim token revoke 3f2a9c1b"],
  },
  args: { id: { type: "positional", description: "The token's id (from token list)", required: true }, ...dataArg, ...logArgs },
  async run({ args }) {
    const log = setupLog(args, "token");
    return sayingRefusals(log, async () => {
      const found = await withAccess(args.data, (access) => access.revokeToken(args.id, Date.now()));
      if (!found) throw new DropsimError("not_found", `Cannot revoke token "${args.id}": there is no such token`);
      log.success(`Revoked token ${args.id}`);
    });
  },
});

export default defineCommand({
  meta: {
    name: "token",
    description: "Create, list and revoke the tokens that let clients sync a share",
    examples: ["dropsim token create --share default --label laptop", "dropsim token list", "dropsim token revoke 3f2a9c1b"],
  },
  subCommands: { create, list, revoke },
});
