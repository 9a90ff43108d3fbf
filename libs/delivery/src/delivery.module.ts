import { DynamicModule, Module, ModuleMetadata, Type } from '@nestjs/common';
import { PersistenceModule } from '@libs/persistence';
import { WebhookHttpClient } from './http/webhook-http-client';
import { AttemptDeliveryUseCase } from './use-cases/attempt-delivery.use-case';
import { ClaimDueAttemptsUseCase } from './use-cases/claim-due-attempts.use-case';
import { DeliverEventUseCase } from './use-cases/deliver-event.use-case';
import { DeliveryObserver } from './use-cases/delivery-observer';
import { DrainDirectLaneUseCase } from './use-cases/drain-direct-lane.use-case';
import { FirstAttemptSlots } from './use-cases/first-attempt-slots';
import { PurgeExpiredHistoryUseCase } from './use-cases/purge-expired-history.use-case';
import { SendFirstUseCase } from './use-cases/send-first.use-case';

export interface DeliveryModuleOptions {
  /** Replaces the no-op DeliveryObserver, for example with one that feeds metrics. */
  observer?: Type<DeliveryObserver>;
  /** Modules the observer comes from. */
  imports?: ModuleMetadata['imports'];
}

const USE_CASES = [
  AttemptDeliveryUseCase,
  DeliverEventUseCase,
  ClaimDueAttemptsUseCase,
  PurgeExpiredHistoryUseCase,
  DrainDirectLaneUseCase,
  SendFirstUseCase,
];

@Module({
  imports: [PersistenceModule],
  providers: [WebhookHttpClient, DeliveryObserver, FirstAttemptSlots, ...USE_CASES],
  exports: [WebhookHttpClient, FirstAttemptSlots, ...USE_CASES],
})
export class DeliveryModule {
  static forRoot(options: DeliveryModuleOptions = {}): DynamicModule {
    const observer = options.observer;
    return {
      module: DeliveryModule,
      // Bound once by the app, then shared by all its modules: one HTTP client, one set of use cases.
      global: true,
      imports: options.imports ?? [],
      providers: observer ? [{ provide: DeliveryObserver, useExisting: observer }] : [],
    };
  }
}
