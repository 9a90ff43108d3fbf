// Integration and e2e tests start real processes and wait on Kafka consumer groups.
jest.setTimeout(120_000);
