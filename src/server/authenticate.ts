import { parseToken, type Scope, secretMatches } from "../core/access-token.ts";
import { DropsimError } from "../core/errors.ts";
import type { AccessStore, TokenRecord } from "../store/access-store.ts";

/** What a valid token lets a session do. */
export interface Grant {
  tokenId: string;
  share: string;
  scope: Scope;
  /** ms since the epoch, or null for never. */
  expires: number | null;
}

/**
 * Checks the share and token a hello names against the access store. Every refusal is a
 * DropsimError with the code that says why; none repeats the token's secret.
 */
export function authenticate(access: AccessStore, hello: { share?: string; token?: string }, now: number): Grant {
  if (hello.token === undefined) {
    throw new DropsimError("no_token", "Cannot sync without a token: ask the server's admin for a join link (dropsim token create) and run dropsim sync DIR --join LINK");
  }
  const parsed = parseToken(hello.token);
  const stored = parsed && access.token(parsed.id);
  if (!parsed || !stored || !secretMatches(parsed.secret, stored.secretHash)) {
    throw new DropsimError("unknown_token", "This server does not know the token: check it, or ask its admin for a new one");
  }
  const problem = tokenProblem(stored.id, stored, now);
  if (problem) throw problem;
  const share = hello.share ?? stored.share;
  if (share !== stored.share) throw new DropsimError("wrong_share", `Token ${stored.id} does not open share "${share}"`);
  return { tokenId: stored.id, share, scope: stored.scope, expires: stored.expires };
}

/** Why a token that was valid no longer is: asked at hello and again while its sessions live. */
export function tokenProblem(id: string, t: TokenRecord | undefined, now: number): DropsimError | undefined {
  // Rows are never deleted, so a missing one was lost with its share: as good as revoked.
  if (!t || t.revoked !== null) return new DropsimError("revoked", `Token ${id} was revoked`);
  if (t.expires !== null && t.expires <= now) return new DropsimError("expired", `Token ${id} expired at ${new Date(t.expires).toISOString()}`);
  return undefined;
}
