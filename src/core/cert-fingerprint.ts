import { createHash } from "node:crypto";

/**
 * A certificate's identity as servers print it and clients pin it: `SHA256:` + the SHA-256 of
 * its DER bytes in lowercase hex (what `openssl x509 -fingerprint -sha256` shows, less colons).
 */
export function certificateFingerprint(der: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(der).digest("hex")}`;
}
