import { expect, test } from "bun:test";
import { serveMetrics } from "../../src/server/metrics-http.ts";
import { DropsimProcess } from "../helpers/spawn-dropsim.ts";

test("serveMetrics serves /metrics as Prometheus text and /healthz, and nothing else", async () => {
  const endpoint = await serveMetrics("127.0.0.1", 0, () => "x_total 1\n");
  try {
    const base = `http://127.0.0.1:${endpoint.port}`;
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await metrics.text()).toBe("x_total 1\n");
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, "ok\n"]);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  } finally {
    await endpoint.close();
  }
});

test("serveMetrics closes even while a scraper holds a keep-alive connection", async () => {
  const endpoint = await serveMetrics("127.0.0.1", 0, () => "");
  await fetch(`http://127.0.0.1:${endpoint.port}/metrics`, { keepalive: true });
  await endpoint.close();
  await expect(fetch(`http://127.0.0.1:${endpoint.port}/metrics`)).rejects.toThrow();
});

test.each(["0", ":0"])("serve --http %s (a port alone) serves metrics on loopback", async (http) => {
  await using server = new DropsimProcess(["serve", "--data", "memory:", "--port", "0", "--http", http], { name: "server" });
  server.start();
  const [, url] = await server.waitForLine(/Metrics at (http:\/\/\S+\/metrics)/);
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  expect((await fetch(url!)).status).toBe(200);
});
