import { describe, expect, test } from "bun:test";
import { MetricsRegistry } from "../../src/server/metrics.ts";

describe("MetricsRegistry", () => {
  test("renders a counter without labels at zero before its first update, with HELP and TYPE", () => {
    const r = new MetricsRegistry();
    const c = r.counter("x_commits_total", "Commits so far");
    expect(r.render()).toBe("# HELP x_commits_total Commits so far\n# TYPE x_commits_total counter\nx_commits_total 0\n");
    c.inc();
    c.inc({}, 2.5);
    expect(r.render()).toContain("\nx_commits_total 3.5\n");
  });

  test("renders a labelled series only once it was updated, labels in declared order", () => {
    const r = new MetricsRegistry();
    const c = r.counter("x_ops_total", "Ops", ["op", "result"]);
    expect(r.render()).toBe("# HELP x_ops_total Ops\n# TYPE x_ops_total counter\n");
    c.inc({ result: "ok", op: "put" });
    c.inc({ op: "put", result: "ok" });
    c.inc({ op: "delete", result: "conflict" }, 4);
    expect(r.render().split("\n").slice(2, 4)).toEqual(['x_ops_total{op="put",result="ok"} 2', 'x_ops_total{op="delete",result="conflict"} 4']);
  });

  test.each([
    ["a plain value", "abc", "abc"],
    ["a backslash", "a\\b", "a\\\\b"],
    ["a double quote", 'say "hi"', 'say \\"hi\\"'],
    ["a newline", "two\nlines", "two\\nlines"],
    ["all three together", '\\"\n', '\\\\\\"\\n'],
  ])("escapes %s in a label value", (_what, value, escaped) => {
    const r = new MetricsRegistry();
    r.gauge("x_g", "G", ["client"]).set({ client: value }, 1);
    expect(r.render()).toContain(`x_g{client="${escaped}"} 1\n`);
  });

  test("escapes backslashes and newlines in help, not quotes", () => {
    const r = new MetricsRegistry();
    r.gauge("x_g", 'a "b" c\\d\ne');
    expect(r.render()).toStartWith('# HELP x_g a "b" c\\\\d\\ne\n');
  });

  test("a gauge goes up and down and renders special values", () => {
    const r = new MetricsRegistry();
    const g = r.gauge("x_sessions", "Sessions");
    g.inc();
    g.inc();
    g.dec();
    expect(r.render()).toContain("\nx_sessions 1\n");
    g.set({}, Number.POSITIVE_INFINITY);
    expect(r.render()).toContain("\nx_sessions +Inf\n");
    g.set({}, Number.NaN);
    expect(r.render()).toContain("\nx_sessions NaN\n");
  });

  test("a histogram renders cumulative buckets with +Inf, then sum and count, per label set", () => {
    const r = new MetricsRegistry();
    const h = r.histogram("x_latency_seconds", "Latency", ["share"], [0.1, 0.5, 1]);
    for (const v of [0.05, 0.1, 0.3, 0.7, 3]) h.observe({ share: "default" }, v);
    h.observe({ share: "other" }, 0.2);
    expect(r.render()).toBe(
      [
        "# HELP x_latency_seconds Latency",
        "# TYPE x_latency_seconds histogram",
        'x_latency_seconds_bucket{share="default",le="0.1"} 2',
        'x_latency_seconds_bucket{share="default",le="0.5"} 3',
        'x_latency_seconds_bucket{share="default",le="1"} 4',
        'x_latency_seconds_bucket{share="default",le="+Inf"} 5',
        'x_latency_seconds_sum{share="default"} 4.15',
        'x_latency_seconds_count{share="default"} 5',
        'x_latency_seconds_bucket{share="other",le="0.1"} 0',
        'x_latency_seconds_bucket{share="other",le="0.5"} 1',
        'x_latency_seconds_bucket{share="other",le="1"} 1',
        'x_latency_seconds_bucket{share="other",le="+Inf"} 1',
        'x_latency_seconds_sum{share="other"} 0.2',
        'x_latency_seconds_count{share="other"} 1',
        "",
      ].join("\n"),
    );
  });

  test("a histogram without labels renders its empty buckets from the start", () => {
    const r = new MetricsRegistry();
    r.histogram("x_h_seconds", "H", [], [1]);
    expect(r.render()).toContain('x_h_seconds_bucket{le="1"} 0\nx_h_seconds_bucket{le="+Inf"} 0\nx_h_seconds_sum 0\nx_h_seconds_count 0\n');
  });

  test("runs its collectors before each render until they are removed", () => {
    const r = new MetricsRegistry();
    const c = r.counter("x_bytes_total", "Bytes");
    const remove = r.onRender(() => c.inc({}, 10));
    expect(r.render()).toContain("x_bytes_total 10\n");
    expect(r.render()).toContain("x_bytes_total 20\n");
    remove();
    expect(r.render()).toContain("x_bytes_total 20\n");
  });

  test.each([
    ["a counter not named …_total", (r: MetricsRegistry) => r.counter("x_commits", "C")],
    ["an invalid metric name", (r: MetricsRegistry) => r.gauge("x-g", "G")],
    ["an invalid label name", (r: MetricsRegistry) => r.gauge("x_g", "G", ["bad-label"])],
    ["the reserved label le", (r: MetricsRegistry) => r.gauge("x_g", "G", ["le"])],
    ["unsorted buckets", (r: MetricsRegistry) => r.histogram("x_h", "H", [], [1, 0.5])],
    ["a name declared twice", (r: MetricsRegistry) => [r.gauge("x_g", "G"), r.gauge("x_g", "G")]],
  ])("refuses %s", (_what, declare) => {
    expect(() => declare(new MetricsRegistry())).toThrow();
  });

  test("refuses an update with other labels than declared, and a counter going down", () => {
    const r = new MetricsRegistry();
    const c = r.counter("x_total", "X", ["client"]);
    expect(() => c.inc({ client: "a", extra: "b" } as never)).toThrow(/takes the labels \[client\]/);
    expect(() => c.inc({} as never)).toThrow();
    expect(() => c.inc({ client: "a" }, -1)).toThrow(/can only go up/);
  });
});
