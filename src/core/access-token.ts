import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A token as a user holds it: `dst_<id>_<secret>`. The id is public (lists, logs, revoke) and
 * finds the row; the secret is 256 random bits of which only the SHA-256 is stored. A fast hash
 * is enough: nobody can guess 256 bits, so there is nothing for a slow one to protect.
 */
export type Scope = "read_write" | "read_only";

const TOKEN = /^dst_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewToken {
  id: string;
  /** The whole text, shown once. */
  token: string;
  secretHash: string;
}

export function mintToken(): NewToken {
  const id = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `dst_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a token's text, or undefined when it is not shaped like one. */
export function parseToken(text: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(text);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Compares in constant time, so how long a refusal takes says nothing of how close a guess was. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
