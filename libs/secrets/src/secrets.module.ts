import { Module } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { FieldCipher } from './field-cipher';
import { WebhookCredentials } from './webhook-credentials';

/** The cipher built from ENCRYPTION_KEYS, and the webhook credentials sealed with it. */
@Module({
  providers: [
    {
      provide: FieldCipher,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new FieldCipher(config.encryption),
    },
    WebhookCredentials,
  ],
  exports: [FieldCipher, WebhookCredentials],
})
export class SecretsModule {}
