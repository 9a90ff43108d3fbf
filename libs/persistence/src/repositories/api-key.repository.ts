import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { IsNull, Repository } from 'typeorm';
import { ApiKeyEntity } from '../entities';

@Injectable()
export class ApiKeyRepository {
  constructor(@InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>) {}

  create(
    accountId: string,
    secretHash: Buffer,
    description: string | null,
    id: string = randomUUID(),
  ): Promise<ApiKeyEntity> {
    return this.keys.save(
      this.keys.create({
        id,
        accountId,
        secretHash,
        description,
        createdAt: new Date(),
        lastUsedAt: null,
        revokedAt: null,
      }),
    );
  }

  /** A key that has not been revoked. */
  findActive(id: string): Promise<ApiKeyEntity | null> {
    return this.keys.findOneBy({ id, revokedAt: IsNull() });
  }

  listActive(accountId: string): Promise<ApiKeyEntity[]> {
    return this.keys.find({
      where: { accountId, revokedAt: IsNull() },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
  }

  /** Revokes at once: the next request with the key is refused. False when there was none. */
  async revoke(accountId: string, id: string): Promise<boolean> {
    const result = await this.keys.update(
      { id, accountId, revokedAt: IsNull() },
      { revokedAt: new Date() },
    );
    return (result.affected ?? 0) > 0;
  }

  /** Best effort and coarse (once a minute) so authentication does not write on every request. */
  async touch(key: ApiKeyEntity): Promise<void> {
    if (key.lastUsedAt && Date.now() - key.lastUsedAt.getTime() < 60_000) return;
    await this.keys.update({ id: key.id }, { lastUsedAt: new Date() });
  }
}
