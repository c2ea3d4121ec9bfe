import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { METRICS_CONTENT_TYPE } from "./metrics.ts";

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus text) and `/healthz` over plain HTTP. node:http works in Bun and Deno
 * alike, so this needs no runtime adapter.
 */
export async function serveMetrics(host: string, port: number, render: () => string): Promise<MetricsEndpoint> {
  const server = http.createServer((req, res) => {
    const route = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
    } else if (route === "/metrics") {
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE }).end(req.method === "GET" ? render() : undefined);
    } else if (route === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end("ok\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found: try /metrics or /healthz\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}
