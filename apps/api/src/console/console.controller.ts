import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { join } from 'node:path';
import {
  CONSOLE_FILES,
  CONSOLE_SECURITY_HEADERS,
  ConsoleFile,
  consoleAssetsDir,
  isConsoleFile,
} from './console-assets';

/**
 * The delivery console: a static page and its two assets, served by the api itself (no
 * other server, no CDN). The page signs in with an API key and calls /v1 like any client.
 * Pages are addressed in the URL fragment (#/deliveries…), so these three routes are all.
 */
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  private readonly dir = consoleAssetsDir();

  @Get()
  page(@Res() response: Response): void {
    this.send('index.html', response);
  }

  @Get(':file')
  asset(@Param('file') file: string, @Res() response: Response): void {
    if (!isConsoleFile(file) || file === 'index.html') {
      throw new NotFoundException(`No console file ${file}`);
    }
    this.send(file, response);
  }

  private send(file: ConsoleFile, response: Response): void {
    if (this.dir === undefined) {
      throw new NotFoundException('The console is not built: run "npm run build"');
    }
    response.set(CONSOLE_SECURITY_HEADERS);
    response.type(CONSOLE_FILES[file]);
    // The page must never come from a cache (it is the entry point, and a shared cache has
    // no business keeping it); the assets may, as long as they are revalidated (ETag).
    response.set('cache-control', file === 'index.html' ? 'no-store' : 'no-cache');
    response.sendFile(join(this.dir, file));
  }
}
