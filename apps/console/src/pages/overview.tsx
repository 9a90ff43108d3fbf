import { type StatsOverview, api, unwrap } from '../api/client';
import { Empty, Loading, ProblemBox } from '../components/common';
import { AccountFilter } from '../components/account-filter';
import { useApi } from '../components/use-api';
import { formatTime } from '../format';
import type { Identity } from '../identity';

const REFRESH_MS = 10_000;

export function OverviewPage({ identity, query }: { identity: Identity; query: URLSearchParams }) {
  const accountId = query.get('account_id') ?? undefined;
  const overview = useApi(
    () => unwrap(api.GET('/v1/stats/overview', { params: { query: { account_id: accountId } } })),
    accountId ?? '',
    REFRESH_MS,
  );
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      {identity.kind === 'admin' && <AccountFilter path="/overview" accountId={accountId} />}
      {overview.problem && <ProblemBox problem={overview.problem} what="Could not load figures" />}
      {overview.data === undefined ? (
        !overview.problem && <Loading />
      ) : (
        <div class="columns">
          <Throughput overview={overview.data} />
          <Lag overview={overview.data} identity={identity} />
        </div>
      )}
    </section>
  );
}

function Throughput({ overview }: { overview: StatsOverview }) {
  const minutes = overview.deliveries_per_minute;
  const total = minutes.reduce((sum, minute) => sum + minute.created, 0);
  const peak = Math.max(1, ...minutes.map((minute) => minute.created));
  const last = minutes[minutes.length - 1];
  const width = 600;
  const height = 120;
  const bar = width / Math.max(1, minutes.length);
  return (
    <div class="panel">
      <h2>Deliveries per minute, last hour</h2>
      <p class="figures">
        <span>
          <strong data-testid="deliveries-last-hour">{total}</strong> in the hour
        </span>
        <span>
          <strong>{last?.created ?? 0}</strong> this minute
        </span>
        <span>
          <strong>{peak === 1 && total === 0 ? 0 : peak}</strong> at the peak
        </span>
      </p>
      <svg
        class="chart"
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Deliveries per minute since ${formatTime(overview.since)}: ${total} in all`}
      >
        {minutes.map((minute, index) => {
          const h = (minute.created / peak) * (height - 4);
          const ok = (minute.succeeded / peak) * (height - 4);
          return (
            <g key={minute.minute}>
              <title>
                {`${formatTime(minute.minute).slice(11, 16)}: ${minute.created} created, ` +
                  `${minute.succeeded} succeeded, ${minute.failed} failed`}
              </title>
              <rect class="bar-all" x={index * bar + 1} y={height - h} width={bar - 2} height={h} />
              <rect
                class="bar-ok"
                x={index * bar + 1}
                y={height - ok}
                width={bar - 2}
                height={ok}
              />
            </g>
          );
        })}
      </svg>
      <p class="muted legend">
        <span class="key key-ok" /> succeeded by now <span class="key key-all" /> not (yet)
      </p>
    </div>
  );
}

function Lag({ overview, identity }: { overview: StatsOverview; identity: Identity }) {
  const lag = overview.consumer_lag;
  return (
    <div class="panel">
      <h2>Consumer lag</h2>
      {identity.kind !== 'admin' ? (
        <Empty>The topic is shared by every account: its lag is shown to the admin key only.</Empty>
      ) : lag === null ? (
        <Empty>Kafka did not answer in time: no lag figures right now.</Empty>
      ) : (
        <>
          <p class="figures">
            <span>
              <strong data-testid="consumer-lag">{lag.total}</strong> messages behind
            </span>
            <span class="muted">
              group {lag.group} on {lag.topic}
            </span>
          </p>
          <div class="table-wrap short">
            <table>
              <thead>
                <tr>
                  <th scope="col" class="num">
                    Partition
                  </th>
                  <th scope="col" class="num">
                    Lag
                  </th>
                </tr>
              </thead>
              <tbody>
                {lag.partitions.map((partition) => (
                  <tr key={partition.partition}>
                    <td class="num">{partition.partition}</td>
                    <td class="num">{partition.lag}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
