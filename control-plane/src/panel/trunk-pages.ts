import crypto from 'node:crypto';
import http from 'node:http';
import { Request, Response, Router } from 'express';
import type { Credentials } from '../credentials/credential-service';
import type { DidSet } from '../did-sets/did-set-service';
import type { Did } from '../dids/did-service';
import { DomainError } from '../errors';
import type { IncomingResource } from '../http/jsonapi';
import { FINAL_STATUSES } from '../sending/message-status';
import { parseTrunkSpec, Trunk } from '../trunks/trunk-service';
import { didPicker, PICKER_PAGE_SIZE } from './did-picker';
import { html, Html, icons } from './html';
import {
  addFieldError,
  forPanel,
  csrfField,
  describedBy,
  errorSummary,
  fieldMessages,
  FormErrors,
  formErrorsFrom,
  hasErrors,
  noErrors,
  page,
  PageContext,
  pager,
  statusForPage,
  when,
} from './layout';
import { localsOf, PanelDeps, sendHtml, wantsFragment } from './panel-context';

type Flash = (req: Request, res: Response, message: string) => void;

const TRUNK_FIELDS = ['name', 'callback_url', 'allowed_ips', 'allow_any_did_as_source', 'outgoing_dids', 'outgoing_did_sets', 'dlr_events'] as const;
const TRUNK_LABELS: Record<string, string> = {
  name: 'Friendly name',
  callback_url: 'Callback URL',
  allowed_ips: 'Allowed IP addresses',
  allow_any_did_as_source: 'Source Address Settings',
  outgoing_dids: 'Allowed DIDs',
  outgoing_did_sets: 'Source-DID sets',
  dlr_events: 'DLR events',
};

const MESSAGE_STATUSES = ['accepted', 'submitted', 'failed', 'delivered', 'undeliverable', 'expired', 'rejected', 'deleted', 'unknown'];

/** What the trunk form holds, as typed (allowed IPs stay one text, so line numbers mean something). */
interface TrunkForm {
  name: string;
  callback_url: string;
  allowed_ips: string;
  allow_any_did_as_source: boolean;
  dlr_events: boolean;
  outgoing_dids: string[];
  outgoing_did_sets: string[];
  version: string;
  force: boolean;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v !== '' ? [v] : []);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

function formFromTrunk(t: Trunk): TrunkForm {
  return {
    name: t.name,
    callback_url: t.callback_url ?? '',
    allowed_ips: t.allowed_ips.join('\n'),
    allow_any_did_as_source: t.allow_any_did_as_source,
    dlr_events: t.dlr_events,
    outgoing_dids: t.outgoing_dids,
    outgoing_did_sets: t.outgoing_did_sets,
    version: String(t.version),
    force: false,
  };
}

function formFromBody(body: Record<string, unknown>): TrunkForm {
  return {
    name: text(body.name),
    callback_url: text(body.callback_url),
    allowed_ips: text(body.allowed_ips),
    allow_any_did_as_source: body.allow_any_did_as_source === 'true',
    dlr_events: body.dlr_events === 'true',
    outgoing_dids: list(body.outgoing_dids),
    outgoing_did_sets: list(body.outgoing_did_sets),
    version: text(body.version),
    force: body.force === 'true',
  };
}

/**
 * The form as the JSON:API document the API would receive. Allowed IPs are one per line (commas
 * and spaces also separate); `lineOf[i]` is the line of element i, so an error at
 * `/data/attributes/allowed_ips/3` can name the line the operator typed it on.
 */
function documentOf(form: TrunkForm): { doc: IncomingResource; lineOf: number[] } {
  const entries: string[] = [];
  const lineOf: number[] = [];
  form.allowed_ips.split(/\r?\n/).forEach((line, i) => {
    for (const item of line.split(/[,\s]+/)) {
      if (item === '') continue;
      entries.push(item);
      lineOf.push(i + 1);
    }
  });
  const attributes: Record<string, unknown> = {
    name: form.name,
    callback_url: form.callback_url.trim() === '' ? null : form.callback_url.trim(),
    allowed_ips: entries,
    allow_any_did_as_source: form.allow_any_did_as_source,
    dlr_events: form.dlr_events,
  };
  // With the toggle on, the picker is hidden and its lists are not part of the trunk.
  const dids = form.allow_any_did_as_source ? [] : form.outgoing_dids;
  const sets = form.allow_any_did_as_source ? [] : form.outgoing_did_sets;
  return {
    doc: {
      attributes,
      relationships: {
        outgoing_dids: { data: dids.map((id) => ({ type: 'dids', id })) },
        outgoing_did_sets: { data: sets.map((id) => ({ type: 'did_sets', id })) },
      },
    },
    lineOf,
  };
}

function trunkErrors(err: DomainError, lineOf: number[]): FormErrors {
  return formErrorsFrom(err, TRUNK_FIELDS, (field, index, detail) => {
    if (field === 'allowed_ips' && index !== undefined) return `Line ${lineOf[index] ?? index + 1}: ${detail.replace(/^allowed_ips\[\d+\] /, '')}`;
    return detail;
  });
}

export function baseUrlOf(req: Request, publicUrl: string | undefined): string {
  return publicUrl ?? `${req.protocol}://${req.get('host')}`;
}

export function trunkPages(r: Router, deps: PanelDeps, flash: Flash): void {
  const allSets = async (): Promise<DidSet[]> => (await deps.didSets.list({}, { number: 1, size: 1000 })).items;
  const pickerData = async () => {
    const { items, total } = await deps.dids.list({ capability: 'sms_out' }, { number: 1, size: 1000 });
    return { available: items.slice(0, PICKER_PAGE_SIZE), availableTotal: total, known: new Map(items.map((d) => [d.number, d])) };
  };

  // ---------------------------------------------------------------- list and delete

  r.get('/trunks', async (req, res) => {
    const q = text(req.query.q).trim();
    const pageNumber = Math.max(1, Math.min(100_000, Number(req.query.page) || 1));
    const size = 50;
    const [{ items, total }, sets] = await Promise.all([deps.trunks.list({ search: q || undefined, sort: 'name' }, { number: pageNumber, size }), allSets()]);
    const setNames = new Map(sets.map((s) => [s.id, s.name]));
    const ctx = localsOf(res).ctx;
    sendHtml(res, 200, page(ctx, { title: 'SMS trunks', section: 'trunks', wide: true, body: trunkListView(ctx, items, total, q, pageNumber, size, setNames) }));
  });

  r.post('/trunks/delete', async (req, res) => {
    const ctx = localsOf(res).ctx;
    const ids = req.body.only ? list(req.body.only) : list(req.body.ids);
    if (ids.length === 0) {
      flash(req, res, 'Select at least one trunk to delete.');
      return res.redirect(303, '/panel/trunks');
    }
    const trunks: Trunk[] = [];
    for (const id of ids.slice(0, 500)) {
      try {
        trunks.push(await deps.trunks.get(id));
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
      }
    }
    if (req.body.confirm !== 'yes') return sendHtml(res, 200, page(ctx, { title: 'Delete trunks', section: 'trunks', body: deleteConfirmView(ctx, trunks) }));
    const force = req.body.force === 'true';
    const problems: string[] = [];
    let deleted = 0;
    for (const t of trunks) {
      try {
        await deps.trunks.delete(t.id, localsOf(res).session.actor, { force });
        deleted++;
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        problems.push(`${t.name}: ${forPanel(err.items[0]?.detail ?? err.message)}`);
      }
    }
    if (problems.length) {
      return sendHtml(res, 409, page(ctx, { title: 'Delete trunks', section: 'trunks', body: deleteConfirmView(ctx, trunks.filter((t) => problems.some((p) => p.startsWith(`${t.name}:`))), problems, deleted) }));
    }
    flash(req, res, `Deleted ${deleted} trunk${deleted === 1 ? '' : 's'}.`);
    res.redirect(303, '/panel/trunks');
  });

  // ---------------------------------------------------------------- create and edit

  const renderForm = async (res: Response, status: number, form: TrunkForm, errors: FormErrors, trunk?: Trunk) => {
    const [sets, picker] = await Promise.all([allSets(), pickerData()]);
    const ctx = localsOf(res).ctx;
    const title = trunk ? `Edit ${trunk.name}` : 'New HTTP OUT trunk';
    sendHtml(res, status, page(ctx, { title, section: 'trunks', body: trunkFormView(ctx, { trunk, form, errors, sets, ...picker }) }));
  };

  r.get('/trunks/new', async (_req, res) => {
    const form: TrunkForm = { name: '', callback_url: '', allowed_ips: '', allow_any_did_as_source: true, dlr_events: false, outgoing_dids: [], outgoing_did_sets: [], version: '', force: false };
    await renderForm(res, 200, form, noErrors());
  });

  r.post('/trunks', async (req, res) => {
    const form = formFromBody(req.body);
    const { doc, lineOf } = documentOf(form);
    try {
      const trunk = await deps.trunks.create(parseTrunkSpec(doc), localsOf(res).session.actor);
      flash(req, res, `Trunk “${trunk.name}” created. Its credentials are behind the key icon.`);
      res.redirect(303, '/panel/trunks');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await renderForm(res, statusForPage(err), form, trunkErrors(err, lineOf));
    }
  });

  r.get('/trunks/:id/edit', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    await renderForm(res, 200, formFromTrunk(trunk), noErrors(), trunk);
  });

  r.post('/trunks/:id', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const form = formFromBody(req.body);
    const { doc, lineOf } = documentOf(form);
    const ifMatch = /^\d+$/.test(form.version) ? Number(form.version) : undefined;
    try {
      const updated = await deps.trunks.update(trunk.id, doc, localsOf(res).session.actor, { ifMatch, force: form.force });
      flash(req, res, updated.version === trunk.version ? `Nothing changed on “${updated.name}”.` : `Trunk “${updated.name}” saved.`);
      res.redirect(303, '/panel/trunks');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const errors = trunkErrors(err, lineOf);
      if (err.code === 'VERSION_MISMATCH') errors.form.push('Someone else saved this trunk meanwhile. Open it again to see the latest values, then repeat your change.');
      await renderForm(res, statusForPage(err), form, errors, trunk);
    }
  });

  // ---------------------------------------------------------------- credentials

  const credentialsPage = (req: Request, res: Response, trunk: Trunk, body: Html) => {
    const ctx = localsOf(res).ctx;
    if (wantsFragment(req)) return sendHtml(res, 200, body.value);
    sendHtml(res, 200, page(ctx, { title: `Credentials of ${trunk.name}`, section: 'trunks', body: html`<section class="card dialog-page">${body}</section>` }));
  };

  r.get('/trunks/:id/credentials', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const creds = await deps.credentials.show(trunk.id, localsOf(res).session.actor);
    credentialsPage(req, res, trunk, credentialsView(localsOf(res).ctx, trunk, creds, `${baseUrlOf(req, deps.publicUrl)}/outbound_messages`, wantsFragment(req)));
  });

  r.post('/trunks/:id/credentials/regenerate', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const grace = Number(text(req.body.grace_period_seconds) || '0');
    const creds = await deps.credentials.regenerate(trunk.id, grace, localsOf(res).session.actor);
    const notice = creds.previous_password_valid_until
      ? `New password generated. The old one keeps working until ${when(creds.previous_password_valid_until)}.`
      : 'New password generated. The old one stopped working now.';
    credentialsPage(req, res, trunk, credentialsView(localsOf(res).ctx, trunk, creds, `${baseUrlOf(req, deps.publicUrl)}/outbound_messages`, wantsFragment(req), notice));
  });

  r.post('/trunks/:id/credentials/share', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const recipient = text(req.body.recipient).trim();
    const link = await deps.credentials.share(
      trunk.id,
      { expiresInSeconds: Number(text(req.body.expires_in_seconds) || '86400'), recipient: recipient === '' ? null : recipient },
      localsOf(res).session.actor,
    );
    credentialsPage(req, res, trunk, shareView(trunk, link, wantsFragment(req)));
  });

  // ---------------------------------------------------------------- send a test SMS

  const sourcesOf = async (trunk: Trunk): Promise<string[]> => {
    if (trunk.allow_any_did_as_source) return (await deps.dids.list({ capability: 'sms_out' }, { number: 1, size: PICKER_PAGE_SIZE })).items.map((d) => d.number);
    const out = new Set(trunk.outgoing_dids);
    for (const id of trunk.outgoing_did_sets) {
      if (out.size >= PICKER_PAGE_SIZE) break;
      for (const d of (await deps.didSets.get(id)).dids) out.add(d);
    }
    return [...out].slice(0, PICKER_PAGE_SIZE);
  };

  const renderSend = async (res: Response, status: number, trunk: Trunk, values: Record<string, string>, errors: FormErrors, messageId?: string) => {
    const ctx = localsOf(res).ctx;
    let statusPanel: Html | undefined;
    if (messageId) {
      try {
        statusPanel = messageStatusView(await deps.send.queries.messageView(messageId, trunk.id, true));
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
      }
    }
    sendHtml(res, status, page(ctx, { title: `Send SMS · ${trunk.name}`, section: 'trunks', body: sendView(ctx, trunk, await sourcesOf(trunk), values, errors, messageId, statusPanel) }));
  };

  r.get('/trunks/:id/send', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const messageId = typeof req.query.message === 'string' && /^[0-9a-f-]{36}$/.test(req.query.message) ? req.query.message : undefined;
    await renderSend(res, 200, trunk, { content: 'Hello from the SMS OUT panel!' }, noErrors(), messageId);
  });

  r.post('/trunks/:id/send', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const values = { source: text(req.body.source).trim().replace(/^\+/, ''), destination: text(req.body.destination).trim().replace(/^\+/, ''), content: text(req.body.content) };
    const key = /^[0-9a-f-]{36}$/.test(text(req.body.idempotency_key)) ? text(req.body.idempotency_key) : crypto.randomUUID();
    // The panel sends as the trunk: the password is shown to no one, so this is recorded as a test
    // send rather than as a credentials view.
    const creds = await deps.credentials.forTestSend(trunk.id);
    const body = JSON.stringify({ data: { type: 'outbound_messages', attributes: values } });
    const answer = await loopbackSend(req, `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`, body, key);
    if (answer.status === 201 && answer.body?.data?.id) {
      const id = String(answer.body.data.id);
      await deps.audit.record(deps.db.knex, localsOf(res).session.actor, { action: 'message.test_send', resourceType: 'sms_trunks', resourceId: trunk.id, after: { message_id: id, source: values.source, destination: values.destination } });
      const a = answer.body.data.attributes ?? {};
      flash(req, res, `Message accepted (${a.encoding}, ${a.segments} segment${a.segments === 1 ? '' : 's'}). Its status updates below.`);
      return res.redirect(303, `/panel/trunks/${trunk.id}/send?message=${id}`);
    }
    const errors = noErrors();
    for (const e of (answer.body?.errors ?? []) as Array<{ code?: string; detail?: string; source?: { pointer?: string } }>) {
      const field = /^\/data\/attributes\/(source|destination|content)$/.exec(e.source?.pointer ?? '')?.[1];
      let detail = e.detail ?? `The send API answered ${answer.status}`;
      if (e.code === 'IP_NOT_ALLOWED') {
        detail = `${detail}. The test message is sent by the control plane itself, from ${req.socket.localAddress}; add that address to the trunk's allowed IP addresses to test from here.`;
      }
      if (field) addFieldError(errors, field, detail);
      else errors.form.push(detail);
    }
    if (!hasErrors(errors)) errors.form.push(`The send API answered ${answer.status}`);
    await renderSend(res, answer.status >= 400 && answer.status < 600 ? answer.status : 502, trunk, values, errors);
  });

  r.get('/messages/:id/status', async (req, res) => {
    const view = await deps.send.queries.messageView(req.params.id, undefined, true);
    sendHtml(res, 200, messageStatusView(view).value);
  });

  // ---------------------------------------------------------------- message log and replay

  r.get('/trunks/:id/messages', async (req, res) => {
    const trunk = await deps.trunks.get(req.params.id);
    const status = MESSAGE_STATUSES.includes(text(req.query.status)) ? text(req.query.status) : undefined;
    const pageNumber = Math.max(1, Math.min(100_000, Number(req.query.page) || 1));
    const size = 25;
    const { items, total } = await deps.send.queries.list({ trunkId: trunk.id, status }, { number: pageNumber, size });
    const ctx = localsOf(res).ctx;
    sendHtml(res, 200, page(ctx, { title: `Messages · ${trunk.name}`, section: 'trunks', wide: true, body: messageLogView(ctx, trunk, items, total, status, pageNumber, size, req.originalUrl) }));
  });

  r.post('/callbacks/:id/replay', async (req, res) => {
    const back = /^\/panel\/[A-Za-z0-9/_?=&%.-]*$/.test(text(req.body.return_to)) ? text(req.body.return_to) : '/panel/trunks';
    const actor = localsOf(res).session.actor;
    try {
      await deps.send.queries.replayCallback(req.params.id, deps.callbackMaxAgeMs(), (trx) => deps.audit.record(trx, actor, { action: 'callback.replay', resourceType: 'callbacks', resourceId: req.params.id }));
      deps.onCallbackReplay();
      flash(req, res, 'Callback queued again; it is delivered within seconds (reload to see the new attempt).');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      flash(req, res, err.items[0]?.detail ?? 'The callback could not be replayed');
    }
    res.redirect(303, back);
  });
}

/** POSTs to this very server's send API over loopback, so the test message takes the real send path. */
function loopbackSend(req: Request, authorization: string, body: string, idempotencyKey: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const out = http.request(
      {
        host: req.socket.localAddress,
        port: req.socket.localPort,
        path: '/outbound_messages',
        method: 'POST',
        agent: false,
        timeout: 10_000,
        headers: { authorization, 'content-type': 'application/vnd.api+json', 'idempotency-key': idempotencyKey, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    out.on('timeout', () => out.destroy(new Error('the send API did not answer within 10 s')));
    out.on('error', reject);
    out.end(body);
  });
}

// ==================================================================== views

function sourceSummary(t: Trunk, setNames: Map<string, string>): Html {
  if (t.allow_any_did_as_source) return html`<span class="muted">Any DID with SMS OUT</span>`;
  const parts: string[] = [];
  if (t.outgoing_dids.length) parts.push(`${t.outgoing_dids.length} DID${t.outgoing_dids.length === 1 ? '' : 's'}`);
  if (t.outgoing_did_sets.length) parts.push(`set${t.outgoing_did_sets.length === 1 ? '' : 's'} ${t.outgoing_did_sets.map((id) => setNames.get(id) ?? id).join(', ')}`);
  return html`${parts.join(' + ')}`;
}

const managedBadge = (managedBy: string | null): Html =>
  managedBy ? html`<span class="badge badge-code" title="Managed by ${managedBy}">${icons.code} managed by code</span>` : html``;

function trunkListView(ctx: PageContext, items: Trunk[], total: number, q: string, pageNumber: number, size: number, setNames: Map<string, string>): Html {
  return html`<div class="page-head">
  <h1>SMS trunks</h1>
  <a class="btn btn-primary" href="/panel/trunks/new">+ Create new HTTP OUT trunk</a>
</div>
<form class="toolbar" method="get" action="/panel/trunks" role="search">
  <label for="f-q">Search by name</label>
  <input type="search" id="f-q" name="q" value="${q}" placeholder="Name contains…">
  <button type="submit" class="btn">Search</button>
  ${q ? html`<a href="/panel/trunks">Clear</a>` : ''}
  <span class="muted count">${total} trunk${total === 1 ? '' : 's'}</span>
</form>
${items.length === 0
  ? html`<div class="empty card"><p>${q ? `No trunk's name contains “${q}”.` : 'No trunks yet.'}</p>${q ? '' : html`<p><a class="btn btn-primary" href="/panel/trunks/new">Create the first HTTP OUT trunk</a></p>`}</div>`
  : html`<form method="post" action="/panel/trunks/delete" id="trunks-form">
  ${csrfField(ctx)}
  <div class="table-wrap">
  <table class="data">
    <caption class="visually-hidden">SMS trunks</caption>
    <thead><tr>
      <th scope="col" class="check"><input type="checkbox" data-check-all="ids" aria-label="Select all trunks on this page"></th>
      <th scope="col">Name</th><th scope="col">Callback URL</th><th scope="col">Allowed IPs</th><th scope="col">Source</th><th scope="col">Created</th><th scope="col">Credentials</th><th scope="col">Actions</th>
    </tr></thead>
    <tbody>
    ${items.map(
      (t) => html`<tr data-trunk="${t.name}">
      <td class="check"><input type="checkbox" name="ids" value="${t.id}" aria-label="Select ${t.name}"></td>
      <th scope="row"><a href="/panel/trunks/${t.id}/edit">${t.name}</a> ${managedBadge(t.managed_by)}${t.blocked ? html` <span class="badge badge-warn">blocked</span>` : ''}${t.dlr_events ? html` <span class="badge">DLR</span>` : ''}</th>
      <td class="url">${t.callback_url ?? html`<span class="muted">—</span>`}</td>
      <td class="ips">${t.allowed_ips.length ? t.allowed_ips.map((ip) => html`<code>${ip}</code> `) : html`<span class="muted">any</span>`}</td>
      <td>${sourceSummary(t, setNames)}</td>
      <td class="nowrap">${when(t.created_at).slice(0, 10)}</td>
      <td class="center"><a class="icon-btn" href="/panel/trunks/${t.id}/credentials" data-dialog aria-label="Credentials of ${t.name}" title="Credentials">${icons.key}</a></td>
      <td class="actions">
        <a class="icon-btn" href="/panel/trunks/${t.id}/send" aria-label="Send a test SMS on ${t.name}" title="Send SMS">${icons.send}</a>
        <a class="icon-btn" href="/panel/trunks/${t.id}/messages" aria-label="Message log of ${t.name}" title="Message log">${icons.list}</a>
        <a class="icon-btn" href="/panel/trunks/${t.id}/edit" aria-label="Edit ${t.name}" title="Edit">${icons.edit}</a>
        <button type="submit" class="icon-btn danger" name="only" value="${t.id}" aria-label="Delete ${t.name}" title="Delete">${icons.trash}</button>
      </td>
    </tr>`,
    )}
    </tbody>
  </table>
  </div>
  <div class="bulk"><button type="submit" class="btn btn-danger" data-bulk-delete>Delete selected…</button></div>
</form>
${pager('/panel/trunks', { q }, pageNumber, total, size)}`}`;
}

function deleteConfirmView(ctx: PageContext, trunks: Trunk[], problems: string[] = [], deleted = 0): Html {
  const managed = trunks.filter((t) => t.managed_by);
  return html`<section class="card">
  <h1>${problems.length ? 'Some trunks were not deleted' : `Delete ${trunks.length} trunk${trunks.length === 1 ? '' : 's'}?`}</h1>
  ${problems.length ? html`<div class="error-summary" role="alert"><p>${deleted} deleted. These were not:</p><ul>${problems.map((p) => html`<li>${p}</li>`)}</ul></div>` : ''}
  ${trunks.length === 0
    ? html`<p>None of the selected trunks exist any more.</p><p><a href="/panel/trunks">Back to the trunks</a></p>`
    : html`<p>Deleting a trunk removes its credentials at once: applications sending with them get 401 from now on. Messages already accepted are still delivered and reported.</p>
  <ul class="plain">${trunks.map((t) => html`<li><strong>${t.name}</strong> ${managedBadge(t.managed_by)}</li>`)}</ul>
  <form method="post" action="/panel/trunks/delete">
    ${csrfField(ctx)}
    <input type="hidden" name="confirm" value="yes">
    ${trunks.map((t) => html`<input type="hidden" name="ids" value="${t.id}">`)}
    ${managed.length
      ? html`<div class="callout callout-code"><p>${managed.length === 1 ? 'One of these trunks is' : `${managed.length} of these trunks are`} managed by code (${[...new Set(managed.map((t) => t.managed_by))].join(', ')}): the stack owns ${managed.length === 1 ? 'it' : 'them'}. Remove ${managed.length === 1 ? 'it' : 'them'} from the stack and deploy instead, or delete here anyway: <code>trunkctl drift</code> then reports ${managed.length === 1 ? 'it' : 'them'} missing, and <code>trunkctl drift --fix</code> creates ${managed.length === 1 ? 'it' : 'them'} again (with new credentials).</p>
      <label class="check-label"><input type="checkbox" name="force" value="true"> Delete managed trunks anyway (force)</label></div>`
      : ''}
    <div class="form-actions"><button type="submit" class="btn btn-danger">Delete ${trunks.length === 1 ? 'trunk' : `${trunks.length} trunks`}</button> <a href="/panel/trunks">Cancel</a></div>
  </form>`}
</section>`;
}

function trunkFormView(
  ctx: PageContext,
  o: { trunk?: Trunk; form: TrunkForm; errors: FormErrors; sets: DidSet[]; available: Did[]; availableTotal: number; known: Map<string, Did> },
): Html {
  const { form, errors, trunk } = o;
  const action = trunk ? `/panel/trunks/${trunk.id}` : '/panel/trunks';
  return html`<div class="page-head"><h1>${trunk ? html`Edit “${trunk.name}”` : 'Create new HTTP OUT trunk'}</h1></div>
${trunk?.managed_by
  ? html`<div class="callout callout-code" role="note">
  <h2>${icons.code} Managed by code</h2>
  <p>This trunk is declared in <strong>${trunk.managed_by}</strong>, and that stack owns it: change it there and deploy. Saving here needs <em>Save anyway (force)</em> below. A forced edit is recorded in the audit log but Terraform does not see it: <code>trunkctl drift</code> reports the difference, and <code>trunkctl drift --fix</code> puts back what the stack declares.</p>
</div>`
  : ''}
${errorSummary(errors, TRUNK_LABELS)}
<form method="post" action="${action}" class="card form" novalidate data-trunk-form>
  ${csrfField(ctx)}
  ${trunk ? html`<input type="hidden" name="version" value="${form.version}">` : ''}
  <div class="field">
    <label for="f-name">Friendly name</label>
    <input type="text" id="f-name" name="name" value="${form.name}" maxlength="100" required${describedBy(errors, 'name')}>
    ${fieldMessages(errors, 'name')}
  </div>
  <div class="field">
    <label for="f-callback_url">Callback URL <span class="optional">optional</span></label>
    <input type="text" inputmode="url" id="f-callback_url" name="callback_url" value="${form.callback_url}" placeholder="https://example.com/sms/callback" spellcheck="false"${describedBy(errors, 'callback_url', true)}>
    <p class="hint" id="h-callback_url">Status callbacks (and DLR events, when on) are POSTed here, signed with the trunk's secret.</p>
    ${fieldMessages(errors, 'callback_url')}
  </div>
  <div class="field">
    <label for="f-allowed_ips">Allowed IP addresses <span class="optional">optional</span></label>
    <textarea id="f-allowed_ips" name="allowed_ips" rows="4" spellcheck="false" placeholder="203.0.113.0/24&#10;2001:db8:1::/64"${describedBy(errors, 'allowed_ips', true)}>${form.allowed_ips}</textarea>
    <p class="hint" id="h-allowed_ips">One IPv4 or IPv6 address or network per line (CIDR, e.g. <code>203.0.113.0/24</code>, <code>2001:db8:1::/64</code>); at most 100. Empty: any client may send with the credentials.</p>
    ${fieldMessages(errors, 'allowed_ips')}
  </div>
  <div class="field switch-field">
    <input type="checkbox" role="switch" id="f-dlr_events" name="dlr_events" value="true"${form.dlr_events ? html` checked` : ''}${describedBy(errors, 'dlr_events', true)}>
    <label for="f-dlr_events">DLR events</label>
    <p class="hint" id="h-dlr_events">Also send the final delivery status (DELIVERED, UNDELIVERABLE, …) to the callback URL.</p>
    ${fieldMessages(errors, 'dlr_events')}
  </div>
  <fieldset class="source-settings" data-source-settings>
    <legend>Source Address Settings</legend>
    <div class="field switch-field">
      <input type="checkbox" role="switch" id="f-allow_any_did_as_source" name="allow_any_did_as_source" value="true" data-source-toggle${form.allow_any_did_as_source ? html` checked` : ''}${describedBy(errors, 'allow_any_did_as_source', true)}>
      <label for="f-allow_any_did_as_source">Allow any DID with SMS OUT</label>
      <p class="hint" id="h-allow_any_did_as_source">On: every DID with the SMS OUT capability may be the sender, including ones added later. Off: only the DIDs and sets chosen below.</p>
      ${fieldMessages(errors, 'allow_any_did_as_source')}
    </div>
    <div class="source-picker" data-source-picker>
      ${didPicker({ field: 'outgoing_dids', legend: 'Allowed DIDs', selected: form.outgoing_dids.map((n) => ({ number: n, description: o.known.get(n)?.description })), available: o.available, availableTotal: o.availableTotal, errors })}
      <fieldset class="sets" id="f-outgoing_did_sets" tabindex="-1"${describedBy(errors, 'outgoing_did_sets')}>
        <legend>Source-DID sets</legend>
        ${o.sets.length === 0
          ? html`<p class="muted">No source-DID sets yet. <a href="/panel/did-sets/new">Create one</a> to reuse a group of DIDs on several trunks.</p>`
          : html`<ul class="checks">${o.sets.map(
              (s) => html`<li><label class="check-label"><input type="checkbox" name="outgoing_did_sets" value="${s.id}"${form.outgoing_did_sets.includes(s.id) ? html` checked` : ''}> ${s.name} <span class="muted">(${s.dids.length} DID${s.dids.length === 1 ? '' : 's'})</span></label></li>`,
            )}</ul>`}
        ${fieldMessages(errors, 'outgoing_did_sets')}
      </fieldset>
    </div>
  </fieldset>
  ${trunk?.managed_by ? html`<div class="field"><label class="check-label"><input type="checkbox" name="force" value="true"${form.force ? html` checked` : ''}> Save anyway (force) — <code>trunkctl drift</code> will show this edit as drift from <strong>${trunk.managed_by}</strong></label></div>` : ''}
  <div class="form-actions">
    <button type="submit" class="btn btn-primary">${trunk ? 'Save' : 'Create trunk'}</button>
    <a href="/panel/trunks">Cancel</a>
  </div>
</form>`;
}

function credentialsView(ctx: PageContext, trunk: Trunk, creds: Credentials, host: string, asDialog: boolean, notice?: string): Html {
  return html`<div class="dialog-head">
  <h2 id="panel-dialog-title">${icons.key} Credentials — ${trunk.name}</h2>
  ${asDialog ? html`<button type="button" class="icon-btn" data-dialog-close aria-label="Close">✕</button>` : html`<a href="/panel/trunks">Back to the trunks</a>`}
</div>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<dl class="creds">
  <dt><label for="cred-username">Username</label></dt>
  <dd class="secret-row">
    <input type="text" id="cred-username" value="${creds.username}" readonly spellcheck="false">
    <button type="button" class="icon-btn" data-copy="cred-username" aria-label="Copy username" title="Copy">${icons.copy}</button>
  </dd>
  <dt><label for="cred-password">Password</label></dt>
  <dd class="secret-row">
    <input type="password" id="cred-password" value="${creds.password}" readonly spellcheck="false" autocomplete="off">
    <button type="button" class="icon-btn" data-toggle-password="cred-password" aria-pressed="false" aria-label="Show password" title="Show password">${icons.eye}</button>
    <button type="button" class="icon-btn" data-copy="cred-password" aria-label="Copy password" title="Copy">${icons.copy}</button>
  </dd>
  <dt><label for="cred-host">Send endpoint</label></dt>
  <dd class="secret-row">
    <input type="text" id="cred-host" value="${host}" readonly spellcheck="false">
    <button type="button" class="icon-btn" data-copy="cred-host" aria-label="Copy send endpoint" title="Copy">${icons.copy}</button>
  </dd>
</dl>
<p class="muted small">Rotated ${when(creds.rotated_at)}.${creds.previous_password_valid_until ? ` The previous password keeps working until ${when(creds.previous_password_valid_until)}.` : ''}</p>
<p class="copy-status visually-hidden" role="status" aria-live="polite" data-copy-status></p>
<div class="dialog-actions">
  <form method="post" action="/panel/trunks/${trunk.id}/credentials/regenerate" data-dialog-form class="inline-form">
    ${csrfField(ctx)}
    <label for="f-grace">Old password stops working</label>
    <select id="f-grace" name="grace_period_seconds">
      <option value="0">immediately</option>
      <option value="3600">in 1 hour</option>
      <option value="86400">in 24 hours</option>
      <option value="604800">in 7 days</option>
    </select>
    <button type="submit" class="btn" data-regenerate>${icons.refresh} Regenerate password</button>
  </form>
  <form method="post" action="/panel/trunks/${trunk.id}/credentials/share" data-dialog-form class="inline-form">
    ${csrfField(ctx)}
    <label for="f-recipient">Share with <span class="optional">optional</span></label>
    <input type="text" id="f-recipient" name="recipient" placeholder="ops@example.com" maxlength="255">
    <label for="f-expires">Link expires in</label>
    <select id="f-expires" name="expires_in_seconds">
      <option value="3600">1 hour</option>
      <option value="86400" selected>24 hours</option>
      <option value="604800">7 days</option>
    </select>
    <button type="submit" class="btn btn-primary" data-share>${icons.share} Share</button>
  </form>
</div>`;
}

function shareView(trunk: Trunk, link: { url: string; expires_at: string; recipient: string | null }, asDialog: boolean): Html {
  return html`<div class="dialog-head">
  <h2 id="panel-dialog-title">${icons.share} Share credentials — ${trunk.name}</h2>
  ${asDialog ? html`<button type="button" class="icon-btn" data-dialog-close aria-label="Close">✕</button>` : html`<a href="/panel/trunks">Back to the trunks</a>`}
</div>
<p class="notice" role="status">One-time link created${link.recipient ? ` for ${link.recipient}` : ''}. It works <strong>once</strong> and expires at <strong data-share-expires>${when(link.expires_at)}</strong>.</p>
<div class="secret-row">
  <label for="share-url" class="visually-hidden">One-time link</label>
  <input type="text" id="share-url" value="${link.url}" readonly spellcheck="false">
  <button type="button" class="icon-btn" data-copy="share-url" aria-label="Copy link" title="Copy">${icons.copy}</button>
</div>
<p class="muted small">Send it to the system administrator. Opening it shows a <em>Reveal</em> button, so link previews in chat tools do not use it up; revealing works once. Every redemption is in the audit log.</p>
<p class="copy-status visually-hidden" role="status" aria-live="polite" data-copy-status></p>
<div class="dialog-actions"><a class="btn" href="/panel/trunks/${trunk.id}/credentials"${asDialog ? html` data-dialog` : ''}>Back to the credentials</a></div>`;
}

function sendView(ctx: PageContext, trunk: Trunk, sources: string[], values: Record<string, string>, errors: FormErrors, messageId: string | undefined, statusPanel: Html | undefined): Html {
  const labels = { source: 'From (source DID)', destination: 'To (destination)', content: 'Text' };
  return html`<div class="page-head">
  <h1>${icons.send} Send SMS · ${trunk.name}</h1>
  <a href="/panel/trunks/${trunk.id}/messages">Message log</a>
</div>
<div class="two-col">
<section class="card">
  <h2>Test message</h2>
  <p class="muted">Sent through the real send API (<code>POST /outbound_messages</code>) with this trunk's credentials, so it is routed, delivered and reported like any other message${trunk.callback_url ? html` — callbacks go to <code>${trunk.callback_url}</code>` : ' (this trunk has no callback URL, so no callbacks are sent)'}.</p>
  ${errorSummary(errors, labels)}
  <form method="post" action="/panel/trunks/${trunk.id}/send" novalidate class="form">
    ${csrfField(ctx)}
    <input type="hidden" name="idempotency_key" value="${crypto.randomUUID()}">
    <div class="field">
      <label for="f-source">${labels.source}</label>
      <input type="text" id="f-source" name="source" list="source-dids" value="${values.source ?? sources[0] ?? ''}" inputmode="numeric" spellcheck="false"${describedBy(errors, 'source')}>
      <datalist id="source-dids">${sources.map((s) => html`<option value="${s}">`)}</datalist>
      ${fieldMessages(errors, 'source')}
    </div>
    <div class="field">
      <label for="f-destination">${labels.destination}</label>
      <input type="text" id="f-destination" name="destination" value="${values.destination ?? ''}" inputmode="numeric" placeholder="15551234567" spellcheck="false"${describedBy(errors, 'destination', true)}>
      <p class="hint" id="h-destination">Digits with the country code, no “+”.</p>
      ${fieldMessages(errors, 'destination')}
    </div>
    <div class="field">
      <label for="f-content">${labels.content}</label>
      <textarea id="f-content" name="content" rows="3"${describedBy(errors, 'content')}>${values.content ?? ''}</textarea>
      ${fieldMessages(errors, 'content')}
    </div>
    <div class="form-actions"><button type="submit" class="btn btn-primary">${icons.send} Send</button></div>
  </form>
</section>
<section class="card" aria-labelledby="status-title">
  <h2 id="status-title">Status</h2>
  ${messageId && statusPanel
    ? html`<div id="message-status" data-poll="/panel/messages/${messageId}/status" aria-live="polite">${statusPanel}</div>`
    : html`<p class="muted">Send a message to follow its status and callbacks here as they happen.</p>`}
</section>
</div>`;
}

const KIND_LABELS: Record<string, string> = { status: 'Status callback', dlr: 'DLR event' };

/** Attempts of one callback, newest last; a long retry history keeps its first and last few. */
function attemptsView(cb: any): Html {
  const all = (cb.history ?? []) as Array<{ attempted_at: string; status_code: number | null; error: string | null; duration_ms: number; outcome: string }>;
  if (all.length === 0) return html`<span class="muted">no attempt yet</span>`;
  const hidden = all.length > 6 ? all.length - 4 : 0;
  const history = hidden ? [all[0]!, ...all.slice(-3)] : all;
  return html`<ol class="attempts">${history.map(
    (a) => html`<li><time datetime="${a.attempted_at}">${when(a.attempted_at).slice(11)}</time> ${a.status_code !== null && a.status_code !== undefined
      ? html`<span class="code ${a.status_code >= 200 && a.status_code < 300 ? 'ok' : 'bad'}">${a.status_code}</span>`
      : html`<span class="code bad">${a.error ?? 'error'}</span>`} <span class="muted">${a.duration_ms} ms</span></li>${hidden && a === all[0] ? html`<li class="earlier">… ${hidden} more attempts …</li>` : ''}`,
  )}</ol>`;
}

/** The live status of one message: polled by panel.js until it is final and no callback is pending. */
function messageStatusView(view: Record<string, unknown>): Html {
  const a = view.attributes as any;
  const callbacks = (a.callbacks ?? []) as any[];
  const done = (FINAL_STATUSES as readonly string[]).includes(a.status) && callbacks.every((c) => c.state !== 'pending');
  return html`<div class="msg-status" data-done="${done ? 'true' : 'false'}" data-status="${a.status}">
  <p class="status-line"><span class="badge status status-${a.status}" data-message-status>${a.status}</span>${a.code_id ? html` <span class="muted">code_id ${a.code_id}</span>` : ''}${done ? '' : html` <span class="spinner" aria-hidden="true"></span><span class="muted">updating…</span>`}</p>
  <dl class="facts">
    <dt>Message id</dt><dd><code>${view.id as string}</code></dd>
    <dt>From → To</dt><dd>+${a.source} → +${a.destination}</dd>
    <dt>Encoding</dt><dd>${a.encoding}, ${a.segments} segment${a.segments === 1 ? '' : 's'}${a.parts_delivered || a.parts_failed ? `, ${a.parts_delivered} delivered / ${a.parts_failed} failed` : ''}</dd>
    <dt>Carrier</dt><dd>${a.connector ?? '—'}</dd>
  </dl>
  <h3>Events</h3>
  <ol class="timeline">${(a.events as any[]).map((e) => html`<li><time datetime="${e.occurred_at}">${when(e.occurred_at).slice(11)}</time> ${e.type}${e.status ? html` <strong>${e.status}</strong>` : ''}</li>`)}</ol>
  <h3>Callbacks</h3>
  ${callbacks.length === 0
    ? html`<p class="muted">None yet.</p>`
    : html`<ul class="callbacks">${callbacks.map(
        (c) => html`<li data-callback-kind="${c.kind}"><strong>${KIND_LABELS[c.kind] ?? c.kind}</strong> <span class="badge state-${c.state}">${c.state}</span> ${attemptsView(c)}</li>`,
      )}</ul>`}
</div>`;
}

function messageLogView(ctx: PageContext, trunk: Trunk, items: any[], total: number, status: string | undefined, pageNumber: number, size: number, here: string): Html {
  return html`<div class="page-head">
  <h1>${icons.list} Message log · ${trunk.name}</h1>
  <a class="btn" href="/panel/trunks/${trunk.id}/send">${icons.send} Send SMS</a>
</div>
<form class="toolbar" method="get" action="/panel/trunks/${trunk.id}/messages">
  <label for="f-status">Status</label>
  <select id="f-status" name="status">
    <option value="">all</option>
    ${MESSAGE_STATUSES.map((s) => html`<option value="${s}"${s === status ? html` selected` : ''}>${s}</option>`)}
  </select>
  <button type="submit" class="btn">Filter</button>
  <span class="muted count">${total} message${total === 1 ? '' : 's'}, newest first</span>
</form>
${items.length === 0
  ? html`<div class="empty card"><p>No messages${status ? ` with status ${status}` : ''} yet.</p></div>`
  : html`<div class="table-wrap"><table class="data messages">
  <caption class="visually-hidden">Messages of ${trunk.name}</caption>
  <thead><tr><th scope="col">Accepted</th><th scope="col">To</th><th scope="col">From</th><th scope="col">Text</th><th scope="col">Status</th><th scope="col">Segments</th><th scope="col">Callbacks (attempts and response codes)</th></tr></thead>
  <tbody>
  ${items.map((m) => {
    const a = m.attributes;
    return html`<tr data-message="${m.id}">
    <td class="nowrap"><time datetime="${a.created_at}">${when(a.created_at)}</time></td>
    <td class="nowrap">+${a.destination}</td>
    <td class="nowrap">+${a.source}</td>
    <td class="content">${String(a.content).length > 60 ? `${String(a.content).slice(0, 57)}…` : a.content}</td>
    <td><span class="badge status status-${a.status}">${a.status}</span>${a.code_id ? html` <span class="muted">code ${a.code_id}</span>` : ''}</td>
    <td class="center">${a.segments}</td>
    <td>${(a.callbacks as any[]).length === 0
      ? html`<span class="muted">—</span>`
      : html`<ul class="callbacks">${(a.callbacks as any[]).map(
          (c) => html`<li data-callback="${c.id}" data-callback-state="${c.state}"><strong>${KIND_LABELS[c.kind] ?? c.kind}</strong> <span class="badge state-${c.state}">${c.state}</span> ${attemptsView(c)}
          ${c.state !== 'delivered' && c.attempts > 0
            ? html`<form method="post" action="/panel/callbacks/${c.id}/replay" class="inline-form">${csrfField(ctx)}<input type="hidden" name="return_to" value="${here}"><button type="submit" class="btn btn-small" aria-label="Replay the ${KIND_LABELS[c.kind] ?? c.kind} of the message to +${a.destination}">${icons.refresh} Replay</button></form>`
            : ''}</li>`,
        )}</ul>`}</td>
  </tr>`;
  })}
  </tbody>
</table></div>
${pager(`/panel/trunks/${trunk.id}/messages`, { status }, pageNumber, total, size)}`}`;
}

