import { CreateOrderCommand } from '../src/orders/create-order/create-order.command';
import { GetProductHandler } from '../src/products/get-product/get-product.handler';
import { GetProductQuery } from '../src/products/get-product/get-product.query';
import { SetStockCommand } from '../src/products/set-stock/set-stock.command';
import { httpError, Replica } from './support';

describe('products: set stock and get', () => {
  it('creates a product named after its id, then renames it only when a name is given', async () => {
    const r = new Replica();
    await expect(r.apply((x) => x.setStock.execute(new SetStockCommand('p1', 10, null)))).resolves.toEqual({ id: 'p1', name: 'p1', stock: 10, reserved: 0 });
    await r.apply((x) => x.setStock.execute(new SetStockCommand('p1', 10, 'Widget')));
    await expect(r.apply((x) => x.setStock.execute(new SetStockCommand('p1', 7, null)))).resolves.toEqual({ id: 'p1', name: 'Widget', stock: 7, reserved: 0 });
  });

  it('keeps the units reserved by live orders when the stock is set again', async () => {
    const r = new Replica();
    await r.apply((x) => x.setStock.execute(new SetStockCommand('p1', 10, null)));
    await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 4, null)));
    const after = await r.apply((x) => x.setStock.execute(new SetStockCommand('p1', 50, null)));
    expect(after).toEqual({ id: 'p1', name: 'p1', stock: 50, reserved: 4 });
  });

  it('refuses to run outside a Raft apply, where it would change one replica only', async () => {
    const r = new Replica();
    await expect(r.setStock.execute(new SetStockCommand('p1', 1, null))).rejects.toThrow(/apply context/);
    expect(r.products.size).toBe(0);
  });

  it('answers 404 not_found for an unknown product', async () => {
    const r = new Replica();
    const err = await httpError(new GetProductHandler(r.products).execute(new GetProductQuery('nope')));
    expect(err).toEqual({ status: 404, body: expect.objectContaining({ error: 'not_found', productId: 'nope' }) });
  });
});
