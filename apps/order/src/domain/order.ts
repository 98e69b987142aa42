export type OrderStatus = 'Created' | 'Cancelled';

/**
 * An order as every node holds it. Times and the id come from the Raft apply context (the leader's
 * clock and seed at proposal), so every replica stores the same bytes.
 */
export interface Order {
  orderId: string;
  status: OrderStatus;
  productId: string;
  quantity: number;
  customerId: string | null;
  /** ISO time at which the leader proposed the order. */
  createdAt: string;
  /** Raft log index of the entry that created the order: its position in the one global order. */
  index: number;
  cancelledAt: string | null;
}
