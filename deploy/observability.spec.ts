import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parse } from 'yaml';

/**
 * The alert rules and the dashboard are only useful if every metric they name is one the apps
 * export. The names are collected from the code that registers them (apps/*\/src/metrics and
 * libs/observability), never from a list kept by hand beside this test.
 */
const ROOT = path.join(__dirname, '..');
const OBSERVABILITY = path.join(__dirname, 'observability');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sourceFiles(file);
    return name.endsWith('.ts') && !name.includes('spec.ts') ? [file] : [];
  });
}

const METRIC_FACTORY =
  /(makeCounterProvider|makeGaugeProvider|makeHistogramProvider|makeSummaryProvider|new Counter|new Gauge|new Histogram|new Summary)\(\{\s*name:\s*([^,\n]+),/g;

/** Every series name the apps expose: registered metrics, with histogram and summary series. */
function exportedSeries(): Set<string> {
  const files = [
    ...readdirSync(path.join(ROOT, 'apps')).flatMap((app) => {
      const dir = path.join(ROOT, 'apps', app, 'src', 'metrics');
      return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? sourceFiles(dir) : [];
    }),
    ...sourceFiles(path.join(ROOT, 'libs', 'observability', 'src')),
  ];
  const sources = files.map((file) => readFileSync(file, 'utf8'));
  // Names kept in `export const X_METRIC = { key: 'name' }` objects, referenced as X_METRIC.key.
  const constants = new Map<string, string>();
  for (const source of sources) {
    for (const [, object, body] of source.matchAll(/export const (\w+) = \{([^}]*)\}/g)) {
      for (const [, key, value] of body.matchAll(/(\w+):\s*'([^']+)'/g)) {
        constants.set(`${object}.${key}`, value);
      }
    }
  }
  const series = new Set<string>();
  const add = (name: string, type: string) => {
    series.add(name);
    if (/Histogram/.test(type))
      for (const suffix of ['_bucket', '_sum', '_count']) series.add(name + suffix);
    if (/Summary/.test(type)) for (const suffix of ['_sum', '_count']) series.add(name + suffix);
  };
  for (const source of sources) {
    for (const [, factory, expression] of source.matchAll(METRIC_FACTORY)) {
      const literal = /^'([^']+)'$/.exec(expression.trim());
      const name = literal ? literal[1] : constants.get(expression.trim());
      if (!name) throw new Error(`cannot resolve the metric name ${expression}`);
      add(name, factory);
    }
    // Node.js process metrics, when the metrics module turns prom-client's defaults on.
    if (/defaultMetrics:\s*\{\s*enabled:\s*true/.test(source)) {
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      for (const metric of registry.getMetricsAsArray()) {
        add(metric.name, metric.constructor.name);
      }
    }
  }
  return series;
}

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression selects (not functions, labels, keywords or durations). */
export function metricNamesIn(expression: string): string[] {
  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w$.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)) {
    const name = match[1];
    if (!PROMQL_KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (
  parse(readFileSync(path.join(OBSERVABILITY, 'alerts.yaml'), 'utf8')) as {
    groups: Array<{ name: string; rules: Rule[] }>;
  }
).groups.flatMap((group) => group.rules);

interface Panel {
  type: string;
  title: string;
  panels?: Panel[];
  targets?: Array<{ expr: string }>;
}
const dashboard = JSON.parse(
  readFileSync(path.join(OBSERVABILITY, 'grafana-dashboard.json'), 'utf8'),
) as { uid: string; panels: Panel[] };
const panelExpressions = dashboard.panels
  .flatMap((panel) => [panel, ...(panel.panels ?? [])])
  .flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
  );

describe('metricNamesIn', () => {
  it.each<[string, string[]]>([
    [
      'sum(rate(webhook_deliveries_total{outcome!="succeeded"}[10m])) by (outcome)',
      ['webhook_deliveries_total'],
    ],
    ['max(a_gauge{cause="failing"}) > max(a_gauge{cause="failing"} offset 15m)', ['a_gauge']],
    [
      'histogram_quantile(0.95, sum by (le, route) (rate(h_bucket[$__rate_interval])))',
      ['h_bucket'],
    ],
    ['x_total > 0 unless on (job) y_total == 0 and bool z', ['x_total', 'y_total', 'z']],
  ])('finds the metrics in %s', (expression, names) => {
    expect(metricNamesIn(expression)).toEqual(names);
  });
});

describe('alert rules (deploy/observability/alerts.yaml)', () => {
  const exported = exportedSeries();

  it('cover lag, failures, retries, disabled endpoints, stalled delivery and the dead-letter topic', () => {
    const watched = new Set(rules.flatMap((rule) => metricNamesIn(rule.expr)));
    for (const metric of [
      'webhook_consumer_lag',
      'webhook_deliveries_total',
      'webhook_retry_queue_depth',
      'webhook_endpoints_disabled',
      'webhook_events_published_total',
      'webhook_invalid_messages_total',
    ]) {
      expect(watched).toContain(metric);
    }
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))(
    '%s names only metrics the apps export, with a severity and a summary',
    (_name, rule) => {
      const names = metricNamesIn(rule.expr);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((name) => !exported.has(name))).toEqual([]);
      expect(rule.labels?.severity).toMatch(/^(info|warning|critical)$/);
      expect(rule.annotations?.summary).toBeTruthy();
    },
  );
});

describe('Grafana dashboard (deploy/observability/grafana-dashboard.json)', () => {
  const exported = exportedSeries();

  it('has panels with queries', () => {
    expect(dashboard.uid).toBe('kafka-webhooks');
    expect(panelExpressions.length).toBeGreaterThan(10);
  });

  it.each(panelExpressions.map((target) => [target.panel, target.expr] as const))(
    '"%s" queries only metrics the apps export: %s',
    (_panel, expr) => {
      const names = metricNamesIn(expr);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((name) => !exported.has(name))).toEqual([]);
    },
  );
});
