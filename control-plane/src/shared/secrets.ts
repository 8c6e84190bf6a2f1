import crypto from 'node:crypto';

/** AES-256-GCM for secrets that must be shown again later (trunk passwords). Format: `v1.<iv>.<tag>.<ciphertext>` (base64url). */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('SecretBox needs a 32-byte key');
  }

  seal(plaintext: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || ct === undefined) throw new Error('unrecognised sealed secret');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** Hash for tokens that are only ever compared (admin tokens, share tokens): high-entropy, so SHA-256 suffices. */
export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time string comparison (hashes both sides so lengths never leak). */
export function safeEqual(a: string, b: string): boolean {
  return matchesDigest(a, secretDigest(b));
}

/** The SHA-256 of a secret, kept by a caller that compares many presented values with it (see matchesDigest). */
export const secretDigest = (secret: string): Buffer => crypto.createHash('sha256').update(secret, 'utf8').digest();

/** safeEqual against a secret whose digest is already known: one hash per comparison instead of two. */
export function matchesDigest(presented: string, digest: Buffer): boolean {
  return crypto.timingSafeEqual(secretDigest(presented), digest);
}

const ALNUM = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const LOWER = 'abcdefghijkmnpqrstuvwxyz23456789';

function randomFrom(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[crypto.randomInt(alphabet.length)];
  return out;
}

/** 32 characters from a 57-symbol alphabet (no look-alikes): ~186 bits from the CSPRNG. */
export const generatePassword = (): string => randomFrom(ALNUM, 32);
/** `out_` plus 12 lowercase characters: readable, no colon (Basic auth safe), unique by constraint. */
export const generateUsername = (): string => `out_${randomFrom(LOWER, 12)}`;
/** Opaque bearer/share tokens: 32 random bytes, base64url, with a readable prefix. */
export const generateToken = (prefix: string): string => `${prefix}_${crypto.randomBytes(32).toString('base64url')}`;
