import { DomainError } from '../errors';
import { html, Html } from './html';

export interface PageContext {
  /** The signed-in operator's name; absent on the sign-in page. */
  actorName?: string;
  csrfToken?: string;
  /** One-shot notice from the previous action (post/redirect/get). */
  flash?: string;
}

export type NavSection = 'trunks' | 'dids' | 'sets' | 'none';

/** Problems of one form: messages per field (keyed by field name) and those about the whole form. */
export interface FormErrors {
  form: string[];
  fields: Record<string, string[]>;
}

export const noErrors = (): FormErrors => ({ form: [], fields: {} });

export const hasErrors = (e: FormErrors): boolean => e.form.length > 0 || Object.keys(e.fields).length > 0;

export function addFieldError(e: FormErrors, field: string, message: string): void {
  (e.fields[field] ??= []).push(message);
}

/**
 * A JSON pointer from a DomainError item (`/data/attributes/allowed_ips/3`,
 * `/data/relationships/outgoing_dids/data/0`) as the form field it is about and the element index.
 */
export function pointerTarget(pointer: string | undefined): { field: string; index?: number } | undefined {
  if (!pointer) return undefined;
  const m = /^\/data\/(?:attributes|relationships)\/([^/]+)(?:\/(?:data\/)?(\d+))?/.exec(pointer);
  if (!m) return undefined;
  return { field: m[1]!, index: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * Turns the items of a DomainError into per-field messages. `present` may rewrite a message for
 * its field (e.g. "line 4" for an allowed-IPs index); items about fields the form does not show,
 * and items without a pointer, go to the form-level list.
 */
/**
 * API details tell a script to "repeat with ?force=true"; in the panel the same choice is a
 * checkbox, so the sentence says that instead.
 */
export const forPanel = (detail: string): string => detail.replace(/repeat with \?force=true/g, 'tick the “force” box and repeat');

export function formErrorsFrom(
  err: DomainError,
  shownFields: readonly string[],
  present: (field: string, index: number | undefined, detail: string) => string = (_f, _i, d) => d,
): FormErrors {
  const out = noErrors();
  for (const item of err.items) {
    const target = pointerTarget(item.pointer);
    const detail = forPanel(item.detail);
    if (target && shownFields.includes(target.field)) addFieldError(out, target.field, present(target.field, target.index, detail));
    else out.form.push(detail);
  }
  return out;
}

/** HTML pages answer with the status an API client would get for the same problem, in broad strokes. */
export function statusForPage(err: DomainError): number {
  switch (err.category) {
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'precondition_failed':
      return 412;
    case 'gone':
      return 410;
    case 'not_authenticated':
      return 401;
    case 'forbidden':
      return 403;
    default:
      return 422;
  }
}

const NAV: Array<{ key: NavSection; href: string; label: string }> = [
  { key: 'trunks', href: '/panel/trunks', label: 'SMS trunks' },
  { key: 'dids', href: '/panel/dids', label: 'DIDs' },
  { key: 'sets', href: '/panel/did-sets', label: 'Source-DID sets' },
];

export function page(ctx: PageContext, opts: { title: string; section: NavSection; body: Html; wide?: boolean }): string {
  const signedIn = ctx.actorName !== undefined;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
${ctx.csrfToken ? html`<meta name="csrf-token" content="${ctx.csrfToken}">` : ''}
<title>${opts.title} · SMS OUT</title>
<link rel="stylesheet" href="/panel/assets/panel.css">
<link rel="icon" href="/panel/assets/favicon.svg" type="image/svg+xml">
<script src="/panel/assets/panel.js" defer></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <a class="brand" href="/panel/trunks"><span class="brand-mark" aria-hidden="true">SMS</span> OUT trunks</a>
  ${signedIn
    ? html`<nav aria-label="Main"><ul>${NAV.map(
        (n) => html`<li><a href="${n.href}"${n.key === opts.section ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
      )}</ul></nav>
  <form class="signout" method="post" action="/panel/logout">
    <input type="hidden" name="_csrf" value="${ctx.csrfToken ?? ''}">
    <span class="who" title="Signed in with this admin token">${ctx.actorName}</span>
    <button type="submit" class="btn btn-ghost">Sign out</button>
  </form>`
    : ''}
</header>
<main id="main" class="${opts.wide ? 'wide' : ''}" tabindex="-1">
${ctx.flash ? html`<div class="flash" role="status">${ctx.flash}</div>` : ''}
${opts.body}
</main>
<dialog id="panel-dialog" aria-labelledby="panel-dialog-title"><div class="dialog-body"></div></dialog>
</body>
</html>
`.value;
}

/** The list at the top of a form that failed: every problem, each field's linked to it. */
export function errorSummary(errors: FormErrors, labels: Record<string, string>): Html {
  if (!hasErrors(errors)) return html``;
  const fieldItems = Object.entries(errors.fields).flatMap(([field, messages]) =>
    messages.map((m) => html`<li><a href="#f-${field}">${labels[field] ?? field}: ${m}</a></li>`),
  );
  return html`<div class="error-summary" role="alert" tabindex="-1" id="error-summary">
  <h2>Please fix ${errors.form.length + Object.values(errors.fields).flat().length === 1 ? 'this problem' : 'these problems'}</h2>
  <ul>${errors.form.map((m) => html`<li>${m}</li>`)}${fieldItems}</ul>
</div>`;
}

/** Inline messages under one field; the field points at them with aria-describedby. */
export function fieldMessages(errors: FormErrors, field: string): Html {
  const list = errors.fields[field];
  if (!list?.length) return html``;
  return html`<ul class="field-errors" id="e-${field}">${list.map((m) => html`<li>${m}</li>`)}</ul>`;
}

/** Attributes that tie a control to its hint and errors. */
export function describedBy(errors: FormErrors, field: string, hint = false): Html {
  const ids = [hint ? `h-${field}` : '', errors.fields[field]?.length ? `e-${field}` : ''].filter(Boolean).join(' ');
  return html`${ids ? html` aria-describedby="${ids}"` : ''}${errors.fields[field]?.length ? html` aria-invalid="true"` : ''}`;
}

export const csrfField = (ctx: PageContext): Html => html`<input type="hidden" name="_csrf" value="${ctx.csrfToken ?? ''}">`;

/** `2026-11-24T23:05:43.187Z` → `2026-11-24 23:05:43 UTC` (the panel shows UTC, as the API does). */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

export function pager(basePath: string, params: Record<string, string | undefined>, pageNumber: number, total: number, size: number): Html {
  const last = Math.max(1, Math.ceil(total / size));
  if (last === 1) return html``;
  const link = (n: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    q.set('page', String(n));
    return `${basePath}?${q.toString()}`;
  };
  return html`<nav class="pager" aria-label="Pages">
  ${pageNumber > 1 ? html`<a href="${link(pageNumber - 1)}" rel="prev">← Previous</a>` : ''}
  <span>Page ${pageNumber} of ${last}</span>
  ${pageNumber < last ? html`<a href="${link(pageNumber + 1)}" rel="next">Next →</a>` : ''}
</nav>`;
}
