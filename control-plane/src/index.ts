/**
 * What a callback receiver imports: `const { verifyCallback } = require('sms-out-trunks')`
 * (the package's main entry, compiled to dist/control-plane/src/index.js).
 */
export { verifyCallback, signCallback, CallbackVerificationError } from './callbacks/signing';
export type { VerifyCallbackArgs, VerifiedCallback, CallbackVerificationCode } from './callbacks/signing';
