import { ConflictException, NotFoundException } from '@nestjs/common';

/*
 * The business errors of the app. Handlers throw them before they change anything, so a refused
 * command leaves every replica as it was; the caller gets the same status and body from the leader.
 */

export function productNotFound(productId: string): NotFoundException {
  return new NotFoundException({ error: 'not_found', message: `no product ${productId}`, productId });
}

export function orderNotFound(orderId: string): NotFoundException {
  return new NotFoundException({ error: 'not_found', message: `no order ${orderId}`, orderId });
}

export function outOfStock(productId: string, requested: number, available: number): ConflictException {
  return new ConflictException({
    error: 'out_of_stock',
    message: `product ${productId} has ${available} in stock, ${requested} requested`,
    productId,
    requested,
    available,
  });
}

export function orderAlreadyCancelled(orderId: string): ConflictException {
  return new ConflictException({ error: 'already_cancelled', message: `order ${orderId} is already cancelled`, orderId });
}
