import type { IConstruct } from 'constructs';

/**
 * Thrown at synth time when a construct's props are invalid. The message names the construct path,
 * the prop, the bad value and how to fix it, so `cdktf synth` fails before anything reaches the
 * control plane.
 */
export class TrunkPropsError extends Error {
  constructor(
    readonly constructPath: string,
    readonly prop: string,
    detail: string,
  ) {
    super(`${constructPath}: ${prop} ${detail}`);
    this.name = 'TrunkPropsError';
  }
}

/** Short, quoted rendering of a bad value for messages. */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** Named error factories, in the manner of cdktf's lib/errors.ts. */
export const errors = {
  invalid: (scope: IConstruct, prop: string, detail: string) => new TrunkPropsError(scope.node.path, prop, detail),
  noControlPlane: (scope: IConstruct) =>
    new TrunkPropsError(
      scope.node.path,
      'controlPlane',
      'is not set and the stack has no ControlPlane; add `new ControlPlane(stack, "ControlPlane", { url })` before the trunks and sets, or pass controlPlane',
    ),
  manyControlPlanes: (scope: IConstruct, paths: string[]) =>
    new TrunkPropsError(scope.node.path, 'controlPlane', `is not set and the stack has ${paths.length} ControlPlanes (${paths.join(', ')}); pass the one to use`),
  inputTooLarge: (scope: IConstruct, bytes: number, max: number, fix: string) =>
    new TrunkPropsError(scope.node.path, 'props', `make a reconciler input of ${bytes} bytes; at most ${max} fit in the provisioner's environment. ${fix}`),
};
