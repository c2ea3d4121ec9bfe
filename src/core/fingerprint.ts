import { DropsimError } from "./errors.ts";

/** How a server's identity is written: the SHA-256 of its certificate, as `openssl x509 -fingerprint -sha256` gives it. */
export const FINGERPRINT = /^SHA256:[0-9a-f]{64}$/;

/**
 * Any way a person may paste a fingerprint → `SHA256:` + 64 lowercase hex digits. The prefix
 * is optional and colons between digits (openssl's `AB:CD:…`) are dropped, so one identity
 * has one spelling wherever it is saved or compared.
 */
export function parseFingerprint(value: string): string {
  const digits = value.trim().replace(/^sha256:/i, "").replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(digits)) {
    throw new DropsimError("bad_message", `Invalid fingerprint "${value}": expected SHA256: followed by 64 hex digits, colons optional`);
  }
  return `SHA256:${digits}`;
}
