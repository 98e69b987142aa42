import { applyDecorators, UseGuards } from '@nestjs/common';
import { RaftAdminGuard } from './admin.guard';

/**
 * Protects an app's own route that changes membership or leadership (like the chat app's `/join`)
 * exactly as the module protects `/cluster/members`: the admin token, or the app's `adminGuard`.
 */
export function AdminOnly(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseGuards(RaftAdminGuard));
}
