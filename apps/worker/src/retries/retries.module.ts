import { Module } from '@nestjs/common';
import { DueRetryScheduler } from './due-retry.scheduler';

@Module({
  providers: [DueRetryScheduler],
})
export class RetriesModule {}
