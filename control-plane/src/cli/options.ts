import { InvalidArgumentError } from 'commander';

/** Option parsers: commander reports their errors as usage errors (exit 2) naming the option. */
export function positiveInt(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new InvalidArgumentError(`expected a whole number from 1, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function nonNegativeInt(value: string): number {
  if (!/^(0|[1-9]\d{0,8})$/.test(value)) throw new InvalidArgumentError(`expected a whole number of seconds, got ${JSON.stringify(value)}`);
  return Number(value);
}
