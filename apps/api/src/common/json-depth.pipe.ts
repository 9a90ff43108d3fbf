import { ArgumentMetadata, BadRequestException, Injectable, PipeTransform } from '@nestjs/common';
import { MAX_JSON_DEPTH, exceedsJsonDepth } from '@libs/contracts';

/**
 * Runs before the ValidationPipe: class-transformer and class-validator walk a body
 * recursively, so a small body nested a few thousand levels deep would overflow their
 * stack (a 500). Refused here with a 400 before either of them sees it.
 */
@Injectable()
export class JsonDepthPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'body' && exceedsJsonDepth(value)) {
      throw new BadRequestException(
        `Request body has nesting deeper than ${MAX_JSON_DEPTH} levels`,
      );
    }
    return value;
  }
}
