/**
 * A service of the fleet demo (`npm run fleet:demo`): a checkout flow with captured methods and
 * per-call attributes, calling itself in a loop until SIGTERM. Its store (the directory in
 * argv[2]) goes to Kafka one of two ways: a `laptime ship` process started beside it (the app
 * knows nothing of Kafka), or, given brokers and a topic (argv[3], argv[4]), the store's own `ship`
 * option, which runs that process for the app.
 */
import { capture, open, setDefaultStore } from '../../index';

interface Order {
  tenant: string;
  items: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];

class Checkout {
  @capture<[Order], number>({ name: 'checkout.place', fields: ([order]) => ({ tenant: order.tenant, items: order.items }) })
  async place(order: Order): Promise<number> {
    const price = await this.price(order);
    await this.charge(order, price);
    return price;
  }

  @capture<[Order], number>({ name: 'pricing.quote' })
  async price(order: Order): Promise<number> {
    await sleep(order.items % 3);
    return order.items * 9.5;
  }

  @capture<[Order, number], void>({ name: 'payments.charge', fields: ([order]) => ({ tenant: order.tenant }) })
  async charge(order: Order, amount: number): Promise<void> {
    // A slow tenant, and a payment provider that fails now and then.
    await sleep(order.tenant === 'umbrella' ? 8 : 2);
    if (amount > 80 && Math.random() < 0.05) throw new Error('card declined');
  }
}

async function main(): Promise<void> {
  const [, , dir, brokers, topic] = process.argv;
  if (dir === undefined) throw new Error('usage: app.ts STORE_DIR [BROKERS TOPIC]');
  // Pages seal at least every second (default 2 s): the shipper sends only sealed pages.
  const store = open({ dir, sync: 'interval', pageMaxAgeMs: 1000, ...(brokers !== undefined && topic !== undefined ? { ship: { brokers, topic } } : {}) });
  setDefaultStore(store);
  const checkout = new Checkout();
  let running = true;
  process.once('SIGTERM', () => (running = false));
  process.once('SIGINT', () => (running = false));
  console.log(`fleet app: recording into ${dir}`);
  let n = 0;
  while (running) {
    const order = { tenant: TENANTS[n % TENANTS.length]!, items: 1 + (n % 12) };
    await Promise.all([checkout.place(order).catch(() => undefined), checkout.place({ ...order, items: order.items + 1 }).catch(() => undefined)]);
    n++;
  }
  await store.close(); // with the ship option, also sends what the close sealed
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
