import { ConflictException } from '@nestjs/common';
import { MAX_STOCK } from '../http/input';

/* The inventory section's business errors (the shop's common ones are in domain/errors.ts). */

export function tooMuchStock(productId: string, stock: number): ConflictException {
  return new ConflictException({ error: 'too_much_stock', message: `product ${productId} would have ${stock} in stock, over ${MAX_STOCK}`, productId });
}

export function stillInStock(productId: string, requested: number, available: number): ConflictException {
  return new ConflictException({
    error: 'in_stock',
    message: `product ${productId} has ${available} in stock, enough for ${requested}: place an order instead`,
    productId,
    requested,
    available,
  });
}
