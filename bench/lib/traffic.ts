import * as fs from "node:fs";

/**
 * Bytes on the wire as the server counts them, both directions ("in" is what it received).
 * Per client id: over all its sessions (metrics), or over its open ones only (an old build's
 * --stats-file); either way, a reading taken before a session and one during it differ by
 * that session's bytes.
 */
export interface Traffic {
  bytesIn: number;
  bytesOut: number;
  sessions: { clientId: string; bytesIn: number; bytesOut: number }[];
}

/** An old build's stats file, rewritten every ~100 ms on change; undefined before the first write. */
export function readStatsFile(file: string): Traffic | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Traffic;
  } catch {
    return undefined;
  }
}

export async function fetchMetrics(url: string): Promise<Traffic> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return parseTraffic(await res.text());
}

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const CLIENT_LABEL = /(?:^|,)client="((?:[^"\\]|\\.)*)"/;

/** The byte counters of a Prometheus text exposition from `serve --http`. */
export function parseTraffic(text: string): Traffic {
  const traffic: Traffic = { bytesIn: 0, bytesOut: 0, sessions: [] };
  const byClient = new Map<string, Traffic["sessions"][number]>();
  for (const line of text.split("\n")) {
    const m = line.match(SAMPLE);
    if (!m) continue;
    const [, name, labels = "", value] = m;
    const n = Number(value);
    if (name === "dropsim_bytes_received_total") traffic.bytesIn += n;
    else if (name === "dropsim_bytes_sent_total") traffic.bytesOut += n;
    else if (name === "dropsim_session_bytes_received_total" || name === "dropsim_session_bytes_sent_total") {
      const label = labels.match(CLIENT_LABEL);
      if (!label) continue;
      const clientId = label[1]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      let session = byClient.get(clientId);
      if (!session) {
        session = { clientId, bytesIn: 0, bytesOut: 0 };
        byClient.set(clientId, session);
        traffic.sessions.push(session);
      }
      if (name === "dropsim_session_bytes_received_total") session.bytesIn += n;
      else session.bytesOut += n;
    }
  }
  return traffic;
}
