import { BadRequestException, Injectable, PipeTransform } from '@nestjs/common';
import { EXTERNAL_ID_PATTERN } from '@libs/contracts';

/** Path ids chosen by event sources (event and account ids): refused with 400 before any query. */
@Injectable()
export class ExternalIdPipe implements PipeTransform<string, string> {
  constructor(private readonly name = 'id') {}

  transform(value: string): string {
    if (!EXTERNAL_ID_PATTERN.test(value)) {
      throw new BadRequestException([
        `${this.name} must be 1-128 characters of letters, digits, ".", "_", ":" or "-"`,
      ]);
    }
    return value;
  }
}
