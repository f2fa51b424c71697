/**
 * NestJS: one global interceptor records every controller call as `Controller.method`, with the
 * route template, method and status, timed until the response finished (an `HttpException`'s
 * status included). Run with `npm run example:nest`: starts an app on 127.0.0.1, sends a few
 * requests, prints the stats per handler and per status, and stops.
 */
import 'reflect-metadata';
import { Controller, Get, Inject, Injectable, Module, NotFoundException, Param, Post, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from '../index';
import { annotate, LaptimeInterceptor } from '../src/nest';

@Injectable()
class OrdersService {
  async place(): Promise<{ ok: boolean }> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { ok: true };
  }
}

@Controller()
class ShopController {
  constructor(@Inject(OrdersService) private readonly orders: OrdersService) {}

  @Get('users/:id')
  user(@Param('id') id: string, @Req() req: object): { id: string } {
    if (id === '404') throw new NotFoundException();
    annotate(req, { plan: Number(id) % 3 === 0 ? 'pro' : 'free' });
    return { id };
  }

  @Post('orders')
  order(): Promise<{ ok: boolean }> {
    return this.orders.place();
  }

  @Get('fail')
  fail(): never {
    throw new RangeError('out of stock');
  }
}

@Module({ controllers: [ShopController], providers: [OrdersService] })
class ShopModule {}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-nest-'));
  const store = open({ dir });

  const app = await NestFactory.create(ShopModule, { logger: false });
  app.useGlobalInterceptors(new LaptimeInterceptor({ store }));
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  for (let i = 0; i < 30; i++) await (await fetch(`${base}/users/${i}`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${base}/users/404`)).text();
  for (let i = 0; i < 10; i++) await (await fetch(`${base}/orders`, { method: 'POST' })).text();
  for (let i = 0; i < 4; i++) await (await fetch(`${base}/fail`)).text();
  await app.close();
  await store.flush();

  const { rows } = await store.stats();
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(22)} ${String(r.count).padStart(3)} calls ${String(r.errors).padStart(2)} errors  p50 ${((r.p50 ?? 0) / 1e6).toFixed(2)} ms\n`);
  }
  const byStatus = await store.query().groupBy('route').groupBy('status_code').count().run();
  process.stdout.write(`by route and status: ${JSON.stringify(byStatus.rows)}\n`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
