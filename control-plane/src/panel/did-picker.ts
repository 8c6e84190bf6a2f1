import type { Did } from '../dids/did-service';
import { html, Html } from './html';
import { describedBy, FormErrors, fieldMessages } from './layout';

/** How many available DIDs a picker lists at once; the filter asks the server for the rest. */
export const PICKER_PAGE_SIZE = 200;

export const didLabel = (number: string, description?: string | null): string => `+${number}${description ? ` · ${description}` : ''}`;

/**
 * The dual list of the provider's panel: DIDs with SMS OUT move from "available" to "allowed"
 * (buttons, double-click, Enter), with a filter that asks /panel/api/dids. The "allowed" select is
 * the form field: its options are rendered selected, and panel.js selects them all on submit.
 */
export function didPicker(opts: {
  field: string;
  legend: string;
  selected: Array<{ number: string; description?: string | null }>;
  available: Did[];
  availableTotal: number;
  errors: FormErrors;
}): Html {
  const chosen = new Set(opts.selected.map((d) => d.number));
  const available = opts.available.filter((d) => !chosen.has(d.number));
  const f = opts.field;
  return html`<div class="dual-list" data-dual-list data-source="/panel/api/dids">
  <div class="dual-col">
    <label for="f-${f}-filter">Filter available DIDs</label>
    <input type="search" id="f-${f}-filter" data-filter placeholder="Digits, e.g. 1212" autocomplete="off" inputmode="numeric">
    <label for="f-${f}-available">Available with SMS OUT</label>
    <select multiple size="10" id="f-${f}-available" data-available aria-describedby="h-${f}-available">
      ${available.map((d) => html`<option value="${d.number}">${didLabel(d.number, d.description)}</option>`)}
    </select>
    <p class="hint" id="h-${f}-available" data-available-status>${opts.availableTotal > opts.available.length ? `Showing the first ${opts.available.length} of ${opts.availableTotal} DIDs with SMS OUT; filter to find others.` : `${available.length} DIDs with SMS OUT not yet allowed.`}</p>
  </div>
  <div class="dual-buttons" role="group" aria-label="Move DIDs">
    <button type="button" class="btn" data-move="add">Add <span aria-hidden="true">→</span></button>
    <button type="button" class="btn" data-move="add-all">Add all shown <span aria-hidden="true">⇉</span></button>
    <button type="button" class="btn" data-move="remove"><span aria-hidden="true">←</span> Remove</button>
    <button type="button" class="btn" data-move="remove-all"><span aria-hidden="true">⇇</span> Remove all</button>
  </div>
  <div class="dual-col">
    <label for="f-${f}">${opts.legend} (<span data-allowed-count>${opts.selected.length}</span>)</label>
    <select multiple size="13" id="f-${f}" name="${f}" data-allowed${describedBy(opts.errors, f)}>
      ${opts.selected.map((d) => html`<option value="${d.number}" selected>${didLabel(d.number, d.description)}</option>`)}
    </select>
    ${fieldMessages(opts.errors, f)}
  </div>
</div>`;
}
