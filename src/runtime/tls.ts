import { constants } from "node:crypto";
import { DropsimError } from "../core/errors.ts";

/**
 * Whether a socket's first bytes seen can come from a TLS peer (dropsim's own framing starts
 * with 0x00, a ClientHello with 0x16): any TLS record type
 * (change_cipher_spec 0x14, alert, handshake, application_data 0x17), not only the ClientHello's.
 * Bun's raw tap of an upgraded socket is not shown to see the very first read in every case;
 * a TLS client's later records must never be taken for a plaintext client and reset.
 */
export function mayBeTls(firstByte: number | undefined): boolean {
  return firstByte !== undefined && firstByte >= 0x14 && firstByte <= 0x17;
}

/** TLS 1.3 only, as refusals: Bun's BoringSSL options take no minimum version. */
export const TLS13_ONLY = constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 | constants.SSL_OP_NO_TLSv1_2;

/**
 * How long a client waits for a server to finish the TLS handshake: until it does, there is no
 * connection for the caller's heartbeat to watch, and a silent server would hold it for ever.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export function plaintextRefused(remote: string): DropsimError {
  return new DropsimError("tls_required", `Refused a plaintext connection from ${remote}: this server speaks only TLS`);
}

export function handshakeFailed(address: string, cause: unknown): DropsimError {
  const why = cause instanceof Error ? cause.message : String(cause ?? "the connection closed");
  return new DropsimError("tls", `Cannot make a TLS 1.3 connection to ${address}: ${why}`, { cause });
}
