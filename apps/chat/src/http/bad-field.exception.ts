import { HttpException } from '@nestjs/common';

/** 400 `{ error: 'bad_request', message, field }`: the answer to one bad input field. */
export class BadFieldException extends HttpException {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super({ error: 'bad_request', message, field }, 400);
  }
}
