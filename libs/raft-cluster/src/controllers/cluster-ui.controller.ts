import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { takeOverResponse } from '../http/http-platform';

/** The files of the live cluster view, and their content types. */
const FILES: Record<string, string> = {
  'cluster.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/**
 * The module's own cluster view (`/cluster/ui/cluster.js` and its stylesheet), fed by
 * `GET /cluster/stream`: every app's page includes it instead of keeping a copy. Read once, from
 * the package's `ui/` folder, beside `src/` and `dist/`.
 */
@Controller('cluster')
export class ClusterUiController {
  private readonly files = new Map<string, Buffer>();

  constructor() {
    const dir = path.resolve(__dirname, '..', '..', 'ui');
    for (const name of Object.keys(FILES)) {
      const file = path.join(dir, name);
      if (existsSync(file)) this.files.set(name, readFileSync(file));
    }
  }

  @Get('ui/:file')
  serve(@Param('file') file: string, @Res() reply: unknown): void {
    const body = this.files.get(file);
    if (body === undefined) throw new NotFoundException({ error: 'not_found', message: `no cluster view file ${file}` });
    const res = takeOverResponse(reply);
    res.writeHead(200, { 'content-type': FILES[file], 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(body);
  }
}
