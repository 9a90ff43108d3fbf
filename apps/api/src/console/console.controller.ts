import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
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
  page(@Res() reply: FastifyReply): void {
    this.send('index.html', reply);
  }

  @Get(':file')
  asset(@Param('file') file: string, @Res() reply: FastifyReply): void {
    if (!isConsoleFile(file) || file === 'index.html') {
      throw new NotFoundException(`No console file ${file}`);
    }
    this.send(file, reply);
  }

  private send(file: ConsoleFile, reply: FastifyReply): void {
    if (this.dir === undefined) {
      throw new NotFoundException('The console is not built: run "npm run build"');
    }
    reply.headers({
      ...CONSOLE_SECURITY_HEADERS,
      'content-type': CONSOLE_FILES[file],
      // The page must never come from a cache (it is the entry point, and a shared cache has
      // no business keeping it); the assets may, as long as they are revalidated (ETag).
      'cache-control': file === 'index.html' ? 'no-store' : 'no-cache',
    });
    // @fastify/static (registered by configureApi) adds ETag and Last-Modified and answers
    // a revalidation with 304; the two headers above are ours, not its defaults.
    reply.sendFile(file, this.dir, { contentType: false, cacheControl: false });
  }
}
