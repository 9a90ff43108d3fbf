import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'webhooks' })
export class WebhookEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'account_id', type: 'text' })
  accountId!: string;

  @Column({ type: 'text' })
  url!: string;

  @Column({ name: 'event_types', type: 'text', array: true })
  eventTypes!: string[];

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  /** Names in clear, values sealed (`enc:v1:…`): WebhookCredentials opens them. */
  @Column({ type: 'jsonb' })
  headers!: Record<string, string>;

  /**
   * `whsec_…`, sealed (`enc:v1:…`); needed in clear to sign, so it never leaves the service
   * except on create and rotate.
   */
  @Column({ type: 'text' })
  secret!: string;

  /** Sealed like `secret`. After a rotation the old secret keeps signing until this moment. */
  @Column({ name: 'previous_secret', type: 'text', nullable: true })
  previousSecret!: string | null;

  @Column({ name: 'previous_secret_expires_at', type: 'timestamptz', nullable: true })
  previousSecretExpiresAt!: Date | null;

  @Column({ type: 'boolean' })
  enabled!: boolean;

  @Column({ name: 'disabled_reason', type: 'text', nullable: true })
  disabledReason!: string | null;

  /** Requests per second at most, across all workers (plus a burst of one second's worth); null: no limit. */
  @Column({ name: 'rate_limit_per_s', type: 'int', nullable: true })
  rateLimitPerS!: number | null;

  /** Start of the current run of failed attempts; null after a success. */
  @Column({ name: 'failing_since', type: 'timestamptz', nullable: true })
  failingSince!: Date | null;

  @Column({ name: 'consecutive_failures', type: 'int', default: 0 })
  consecutiveFailures!: number;

  @Column({ name: 'last_success_at', type: 'timestamptz', nullable: true })
  lastSuccessAt!: Date | null;

  @Column({ name: 'last_failure_at', type: 'timestamptz', nullable: true })
  lastFailureAt!: Date | null;

  /** Deleted webhooks stay for the delivery history; they are never selected for new events. */
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
