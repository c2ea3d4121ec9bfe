import { DropsimError } from "../core/errors.ts";

/**
 * A small metrics registry that renders the Prometheus text exposition format (version 0.0.4).
 * Metrics are declared once with their label names; a series appears at its first update. It
 * knows nothing of dropsim: server-metrics.ts declares what the server counts.
 */

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Upper bounds (seconds) that suit request latencies from a millisecond to ten seconds. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type Labels<L extends string> = Readonly<Record<L, string>>;

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function renderLabels(pairs: readonly (readonly [string, string])[]): string {
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** One metric family: its series keyed by their label values, in declaration order of the names. */
abstract class Metric<L extends string, S> {
  protected readonly series = new Map<string, { labels: [string, string][]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {}

  abstract readonly type: "counter" | "gauge" | "histogram";
  protected abstract fresh(): S;
  protected abstract renderSeries(labels: [string, string][], state: S): string[];

  protected stateFor(labels: Labels<L>): S {
    const values = this.labelNames.map((n) => labels[n]);
    const given = Object.keys(labels);
    if (values.some((v) => typeof v !== "string") || given.length !== this.labelNames.length) {
      throw new DropsimError("internal", `Metric ${this.name} takes the labels [${this.labelNames.join(", ")}], not [${given.join(", ")}]`);
    }
    // Counted once or twice per block moved: one label is its own key, with no JSON to make.
    const key = values.length === 1 ? values[0]! : JSON.stringify(values);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: this.labelNames.map((n, i) => [n, values[i]!]), state: this.fresh() };
      this.series.set(key, s);
    }
    return s.state;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    // A metric without labels has exactly one series, which exists from the start (at zero).
    if (this.labelNames.length === 0) this.stateFor({} as Labels<L>);
    for (const { labels, state } of this.series.values()) lines.push(...this.renderSeries(labels, state));
    return lines;
  }
}

export class Counter<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = "counter";

  inc(labels: Labels<L> = {} as Labels<L>, by = 1): void {
    if (!(by >= 0)) throw new DropsimError("internal", `Counter ${this.name} can only go up, not by ${by}`);
    this.stateFor(labels).value += by;
  }

  protected fresh() {
    return { value: 0 };
  }

  protected renderSeries(labels: [string, string][], state: { value: number }): string[] {
    return [`${this.name}${renderLabels(labels)} ${formatValue(state.value)}`];
  }
}

export class Gauge<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = "gauge";

  set(labels: Labels<L>, value: number): void {
    this.stateFor(labels).value = value;
  }

  inc(labels: Labels<L> = {} as Labels<L>, by = 1): void {
    this.stateFor(labels).value += by;
  }

  dec(labels: Labels<L> = {} as Labels<L>, by = 1): void {
    this.stateFor(labels).value -= by;
  }

  protected fresh() {
    return { value: 0 };
  }

  protected renderSeries(labels: [string, string][], state: { value: number }): string[] {
    return [`${this.name}${renderLabels(labels)} ${formatValue(state.value)}`];
  }
}

interface HistogramState {
  /** Per bucket, observations at most its bound (not yet cumulative). */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = "histogram";

  constructor(name: string, help: string, labelNames: readonly L[], readonly buckets: readonly number[]) {
    super(name, help, labelNames);
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new DropsimError("internal", `Histogram ${name} needs finite, strictly increasing bucket bounds`);
    }
  }

  observe(labels: Labels<L>, value: number): void {
    this.observer(labels)(value);
  }

  /**
   * `observe` bound to one series, for a hot path that observes the same labels many times: a
   * push to each of 10,000 sessions spent a third of its time finding the series again.
   */
  observer(labels: Labels<L>): (value: number) => void {
    const s = this.stateFor(labels);
    return (value) => {
      const i = this.buckets.findIndex((b) => value <= b);
      if (i >= 0) s.counts[i]!++;
      s.sum += value;
      s.count++;
    };
  }

  protected fresh(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  protected renderSeries(labels: [string, string][], s: HistogramState): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    this.buckets.forEach((bound, i) => {
      cumulative += s.counts[i]!;
      lines.push(`${this.name}_bucket${renderLabels([...labels, ["le", formatValue(bound)]])} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${renderLabels([...labels, ["le", "+Inf"]])} ${s.count}`);
    lines.push(`${this.name}_sum${renderLabels(labels)} ${formatValue(s.sum)}`);
    lines.push(`${this.name}_count${renderLabels(labels)} ${s.count}`);
    return lines;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric<string, unknown>>();
  private readonly collectors = new Set<() => void>();

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    if (!name.endsWith("_total")) throw new DropsimError("internal", `Counter ${name} must be named …_total`);
    return this.add(new Counter<L>(name, help, labelNames));
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.add(new Gauge<L>(name, help, labelNames));
  }

  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], buckets = LATENCY_BUCKETS): Histogram<L> {
    return this.add(new Histogram<L>(name, help, labelNames, buckets));
  }

  /**
   * Runs `collect` before every render, for figures cheaper to read when asked than to count as
   * they change (bytes a connection keeps its own count of). Returns the function that removes it.
   */
  onRender(collect: () => void): () => void {
    this.collectors.add(collect);
    return () => this.collectors.delete(collect);
  }

  render(): string {
    for (const collect of this.collectors) collect();
    return [...this.metrics.values()].flatMap((m) => m.render()).join("\n") + "\n";
  }

  private add<M extends Metric<string, unknown>>(metric: M): M {
    if (!METRIC_NAME.test(metric.name)) throw new DropsimError("internal", `Invalid metric name "${metric.name}"`);
    if (this.metrics.has(metric.name)) throw new DropsimError("internal", `Metric ${metric.name} is declared twice`);
    for (const l of metric.labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__") || l === "le") throw new DropsimError("internal", `Invalid label name "${l}" on metric ${metric.name}`);
    }
    this.metrics.set(metric.name, metric);
    return metric;
  }
}
