// The panel's only script. Every page works without it; it adds the credentials dialog, the DID
// picker, show/copy buttons and live message status. Loaded from /panel/assets (CSP: no inline script).
(function () {
  'use strict';

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute('content') : '';

  function fragment(url, init) {
    init = init || {};
    init.credentials = 'same-origin';
    init.headers = Object.assign({ 'X-Panel-Fragment': '1' }, init.headers || {});
    return fetch(url, init).then(function (res) {
      if (res.status === 401) {
        window.location.href = '/panel/login?next=' + encodeURIComponent(window.location.pathname + window.location.search);
        throw new Error('signed out');
      }
      return res.text();
    });
  }

  // ------------------------------------------------------------------ dialog

  var dialog = document.getElementById('panel-dialog');
  var dialogBody = dialog ? dialog.querySelector('.dialog-body') : null;
  var opener = null;

  function fillDialog(markup) {
    dialogBody.innerHTML = markup;
    if (!dialog.open) dialog.showModal();
    var target = dialogBody.querySelector('.notice') || dialogBody.querySelector('input:not([type="hidden"])') || dialogBody.querySelector('button');
    if (target) {
      if (target.classList.contains('notice')) target.setAttribute('tabindex', '-1');
      target.focus();
    }
  }

  function openDialog(url, from) {
    opener = from || opener;
    return fragment(url).then(fillDialog);
  }

  if (dialog) {
    dialog.addEventListener('close', function () {
      dialogBody.innerHTML = '';
      if (opener && document.body.contains(opener)) opener.focus();
    });
    dialog.addEventListener('click', function (e) {
      // A click on the backdrop (the dialog element itself, outside the body) closes it.
      if (e.target === dialog) dialog.close();
    });
  }

  document.addEventListener('click', function (e) {
    var link = e.target.closest('a[data-dialog]');
    if (link && dialog) {
      e.preventDefault();
      openDialog(link.getAttribute('href'), link.closest('dialog') ? null : link);
      return;
    }
    if (e.target.closest('[data-dialog-close]') && dialog) {
      dialog.close();
      return;
    }
    var toggle = e.target.closest('[data-toggle-password]');
    if (toggle) {
      var input = document.getElementById(toggle.getAttribute('data-toggle-password'));
      var show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      toggle.setAttribute('aria-pressed', String(show));
      toggle.setAttribute('aria-label', show ? 'Hide password' : 'Show password');
      toggle.setAttribute('title', show ? 'Hide password' : 'Show password');
      return;
    }
    var copy = e.target.closest('[data-copy]');
    if (copy) {
      copyFrom(copy, document.getElementById(copy.getAttribute('data-copy')));
      return;
    }
    var checkAll = e.target.closest('input[data-check-all]');
    if (checkAll) {
      document.querySelectorAll('input[name="' + checkAll.getAttribute('data-check-all') + '"]').forEach(function (box) {
        box.checked = checkAll.checked;
      });
    }
  });

  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (form.matches('form[data-dialog-form]') && dialog && dialog.open) {
      e.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      fragment(form.getAttribute('action'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrfToken },
        body: new URLSearchParams(new FormData(form)).toString(),
      }).then(fillDialog, function () {
        if (button) button.disabled = false;
      });
      return;
    }
    form.querySelectorAll('select[data-allowed]').forEach(function (select) {
      for (var i = 0; i < select.options.length; i++) select.options[i].selected = true;
    });
  });

  function copyFrom(button, input) {
    var status = (button.closest('.dialog-body, main') || document).querySelector('[data-copy-status]');
    var done = function () {
      button.classList.add('copied');
      if (status) status.textContent = 'Copied to the clipboard';
      setTimeout(function () {
        button.classList.remove('copied');
      }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        fallbackCopy(input) && done();
      });
    } else if (fallbackCopy(input)) done();
  }

  function fallbackCopy(input) {
    var type = input.type;
    if (type === 'password') input.type = 'text';
    input.select();
    var ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (err) {
      ok = false;
    }
    input.type = type;
    return ok;
  }

  // ------------------------------------------------------------------ DID dual list

  function label(d) {
    return '+' + d.number + (d.description ? ' · ' + d.description : '');
  }

  document.querySelectorAll('[data-dual-list]').forEach(function (root) {
    var available = root.querySelector('[data-available]');
    var allowed = root.querySelector('[data-allowed]');
    var filter = root.querySelector('[data-filter]');
    var status = root.querySelector('[data-available-status]');
    var count = root.querySelector('[data-allowed-count]');
    var source = root.getAttribute('data-source');
    var timer = null;
    var seq = 0;

    // Selection in the allowed list now means "to remove"; what is submitted is every option in it.
    for (var i = 0; i < allowed.options.length; i++) allowed.options[i].selected = false;

    function allowedSet() {
      var set = {};
      for (var i = 0; i < allowed.options.length; i++) set[allowed.options[i].value] = true;
      return set;
    }
    function updateCount() {
      if (count) count.textContent = String(allowed.options.length);
    }
    function move(from, to, all) {
      var picked = [];
      var first = -1;
      for (var i = 0; i < from.options.length; i++) {
        if (all || from.options[i].selected) {
          if (first < 0) first = i;
          picked.push(from.options[i]);
        }
      }
      picked.forEach(function (o) {
        o.selected = false;
        to.appendChild(o);
      });
      // Keyboard flow: the next option moves up under the cursor and is selected, so Enter again moves it.
      if (document.activeElement === from && from.options.length && first >= 0) from.options[Math.min(first, from.options.length - 1)].selected = true;
      updateCount();
      if (status && picked.length) status.textContent = picked.length + ' DID' + (picked.length === 1 ? '' : 's') + (to === allowed ? ' added' : ' removed') + '.';
    }
    root.querySelectorAll('[data-move]').forEach(function (b) {
      b.addEventListener('click', function () {
        var what = b.getAttribute('data-move');
        if (what === 'add') move(available, allowed, false);
        if (what === 'add-all') move(available, allowed, true);
        if (what === 'remove') move(allowed, available, false);
        if (what === 'remove-all') move(allowed, available, true);
      });
    });
    available.addEventListener('dblclick', function () {
      move(available, allowed, false);
    });
    allowed.addEventListener('dblclick', function () {
      move(allowed, available, false);
    });
    available.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') {
        e.preventDefault();
        move(available, allowed, false);
      }
    });
    allowed.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === 'Delete' || e.key === 'Backspace') {
        e.preventDefault();
        move(allowed, available, false);
      }
    });
    filter.addEventListener('keydown', function (e) {
      // Enter in the filter must not submit the whole form.
      if (e.key === 'Enter') e.preventDefault();
    });
    filter.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq;
        var q = filter.value.replace(/[^0-9]/g, '');
        fetch(source + '?number=' + encodeURIComponent(q), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
          .then(function (res) {
            return res.json();
          })
          .then(function (body) {
            if (mine !== seq) return;
            var taken = allowedSet();
            available.innerHTML = '';
            var shown = 0;
            body.items.forEach(function (d) {
              if (taken[d.number]) return;
              var o = document.createElement('option');
              o.value = d.number;
              o.textContent = label(d);
              available.appendChild(o);
              shown++;
            });
            if (status) {
              status.textContent =
                body.total > body.items.length
                  ? 'Showing ' + body.items.length + ' of ' + body.total + ' matching DIDs; type more digits to narrow.'
                  : shown + ' matching DID' + (shown === 1 ? '' : 's') + ' not yet allowed.';
            }
          });
      }, 150);
    });
  });

  // ------------------------------------------------------------------ source settings toggle

  document.querySelectorAll('[data-source-toggle]').forEach(function (toggle) {
    var picker = toggle.closest('[data-source-settings]').querySelector('[data-source-picker]');
    var sync = function () {
      picker.hidden = toggle.checked;
    };
    toggle.addEventListener('change', sync);
    sync();
  });

  // ------------------------------------------------------------------ live message status

  document.querySelectorAll('[data-poll]').forEach(function (box) {
    var url = box.getAttribute('data-poll');
    var started = Date.now();
    var tick = function () {
      var current = box.querySelector('[data-done]');
      if ((current && current.getAttribute('data-done') === 'true') || Date.now() - started > 10 * 60 * 1000) return;
      fragment(url).then(function (markup) {
        box.innerHTML = markup;
        setTimeout(tick, 1000);
      }, function () {
        setTimeout(tick, 3000);
      });
    };
    setTimeout(tick, 1000);
  });

  // ------------------------------------------------------------------ CSV file → textarea

  document.querySelectorAll('input[type="file"][data-load-into]').forEach(function (input) {
    input.addEventListener('change', function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var reader = new FileReader();
      reader.onload = function () {
        document.getElementById(input.getAttribute('data-load-into')).value = String(reader.result);
      };
      reader.readAsText(file);
    });
  });

  // ------------------------------------------------------------------ errors

  var summary = document.getElementById('error-summary');
  if (summary) summary.focus();

  // Once a field with an error is edited, its old message no longer describes it.
  document.addEventListener('input', function (e) {
    var field = e.target.closest('[aria-invalid="true"]');
    if (!field || !field.id || field.id.indexOf('f-') !== 0) return;
    var name = field.id.slice(2);
    field.removeAttribute('aria-invalid');
    var messages = document.getElementById('e-' + name);
    if (messages) messages.remove();
    if (!summary) return;
    summary.querySelectorAll('a[href="#f-' + name + '"]').forEach(function (a) {
      a.closest('li').remove();
    });
    if (!summary.querySelector('li')) summary.remove();
  });
})();
