import { badField, idField, integerField, MAX_QUANTITY, requireObjectBody } from '../http/input';

/* Input checks of the inventory routes, on top of http/input.ts: refused on the node that got the request. */

/** Lines in one delivery, at most: one log entry carries the whole delivery. */
export const MAX_DELIVERY_LINES = 100;

export interface DeliveryLine {
  productId: string;
  quantity: number;
}

/** `{ items: [{ productId, quantity }, ...] }`, 1 to MAX_DELIVERY_LINES lines. */
export function deliveryLines(body: unknown): DeliveryLine[] {
  const items = requireObjectBody(body).items;
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_DELIVERY_LINES) {
    throw badField('items', `items must be an array of 1 to ${MAX_DELIVERY_LINES} { productId, quantity } lines`);
  }
  return items.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw badField(`items[${i}]`, `items[${i}] must be an object { productId, quantity }`);
    const line = item as Record<string, unknown>;
    return { productId: idField(line.productId, `items[${i}].productId`), quantity: integerField(line.quantity, `items[${i}].quantity`, 1, MAX_QUANTITY) };
  });
}

/** An optional integer query parameter (a string on the wire): absent is `fallback`. */
export function quantityParam(value: unknown, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^[0-9]{1,7}$/.test(value)) throw badField('quantity', `quantity must be an integer from 1 to ${MAX_QUANTITY}`);
  return integerField(Number(value), 'quantity', 1, MAX_QUANTITY);
}
