// Building blocks of the pages: elements (text is always set as text, never parsed as
// HTML), errors in words, dialogs, capacity bars, status badges and pagers.

import { describeError } from "./api.js";
import { fieldName, formatNumber, t } from "./i18n.js";

/** `h("button", {type: "button", onclick}, "text", child…)`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let uniqueCounter = 0;
export function uniqueId(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A labelled form field; `options` for a select. */
export function field(label, name, { type = "text", value, required, options, hint, ...rest } = {}) {
  const id = uniqueId(name);
  let control;
  if (options) {
    control = h("select", { id, name, required, ...rest },
      options.map(([optionValue, text]) =>
        h("option", { value: optionValue, selected: String(optionValue) === String(value ?? "") }, text)));
  } else if (type === "textarea") {
    control = h("textarea", { id, name, required, rows: 2, ...rest }, value ?? "");
  } else if (type === "checkbox") {
    control = h("input", { id, name, type, checked: Boolean(value), ...rest });
    return h("div", { class: "field checkbox" }, control, h("label", { for: id }, label));
  } else {
    control = h("input", { id, name, type, value: value ?? "", required, ...rest });
  }
  const hintElement = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: id }, label, required ? h("span", { "aria-hidden": "true" }, " *") : null), control, hintElement);
}

/** An error said in words: the message, and the list of field messages of a 422. */
export function errorBox(error) {
  const { message, fields } = describeError(error);
  return h("div", { class: "error", role: "alert" },
    h("p", {}, message),
    fields.length ? h("ul", {}, fields.map(({ field: name, message: text }) => h("li", {}, h("strong", {}, fieldName(name)), ": ", text))) : null);
}

/** Shows `error` in a form: a summary on top and each field's message under its input. */
export function showFormError(form, error) {
  clearFormError(form);
  const summary = form.querySelector(".form-error");
  replace(summary, errorBox(error));
  const { fields } = describeError(error);
  for (const { field: name, message } of fields) {
    const control = form.elements.namedItem(name);
    if (!(control instanceof HTMLElement)) continue;
    const id = `${control.id}-error`;
    let note = document.getElementById(id);
    if (!note) {
      note = h("p", { class: "field-error", id });
      control.after(note);
    }
    note.textContent = note.textContent ? `${note.textContent} ${message}` : message;
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
  }
}

export function clearFormError(form) {
  replace(form.querySelector(".form-error"));
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const hint = control.getAttribute("aria-describedby");
    const kept = (hint || "").split(" ").filter((id) => id && !id.endsWith("-error")).join(" ");
    if (kept) control.setAttribute("aria-describedby", kept);
    else control.removeAttribute("aria-describedby");
  }
}

/**
 * A form that calls `submit(values)` and shows its failure in words. The submit button is
 * disabled while the call runs.
 */
export function form(className, fields, submitLabel, submit) {
  const button = h("button", { type: "submit" }, submitLabel);
  const element = h("form", { class: className, novalidate: true }, h("div", { class: "form-error" }), fields, h("div", { class: "actions" }, button));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(element);
    button.disabled = true;
    try {
      await submit(formValues(element), element);
    } catch (error) {
      showFormError(element, error);
    } finally {
      button.disabled = false;
    }
  });
  return element;
}

/** The form's values by name: checkboxes as booleans, empty inputs left out. */
export function formValues(formElement) {
  const values = {};
  for (const control of formElement.elements) {
    if (!control.name) continue;
    if (control.type === "checkbox") values[control.name] = control.checked;
    else if (control.value.trim() !== "") values[control.name] = control.type === "number" ? Number(control.value) : control.value;
  }
  return values;
}

/** Asks before something that cannot be undone. Resolves to true when confirmed. */
export function confirmAction(question, confirmLabel) {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "secondary", value: "cancel" }, t("action.cancel"));
    const confirm = h("button", { type: "button", class: "danger", value: "confirm" }, confirmLabel);
    const titleId = uniqueId("confirm-title");
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("confirm.title")), h("p", {}, question), h("div", { class: "actions" }, cancel, confirm));
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => close(false));
    confirm.addEventListener("click", () => close(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** A secret shown once (a sender token, a callback secret), with a copy button. */
export function showSecretOnce(title, explanation, secret) {
  return new Promise((resolve) => {
    const titleId = uniqueId("secret-title");
    const valueId = uniqueId("secret-value");
    const copied = h("p", { class: "copied", role: "status" });
    const copy = h("button", { type: "button", class: "copy" }, t("action.copy"));
    const done = h("button", { type: "button" }, t("secret.saved"));
    const output = h("output", { id: valueId, class: "secret" }, secret);
    const dialog = h("dialog", { class: "secret-dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title), h("p", {}, explanation),
      h("label", { for: valueId, class: "visually-hidden" }, title), output,
      h("div", { class: "actions" }, copy, done), copied);
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copied.textContent = t("secret.copied");
      } catch {
        const range = document.createRange();
        range.selectNodeContents(output);
        const selection = getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        copied.textContent = t("secret.select_to_copy");
      }
    });
    const close = () => {
      dialog.close();
      dialog.remove();
      resolve();
    };
    done.addEventListener("click", close);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close();
    });
    document.body.append(dialog);
    dialog.showModal();
    copy.focus();
  });
}

/** A short message that goes away by itself (and is read by screen readers). */
export function toast(message, kind = "ok") {
  const region = document.getElementById("toasts");
  const note = h("p", { class: `toast ${kind}` }, message);
  region.append(note);
  setTimeout(() => note.remove(), 6000);
}

/** A capacity bar: `sent` of `limit` messages today. */
export function capacityBar(sent, limit, label) {
  const fill = h("span", { class: "fill" });
  const text = h("span", { class: "bar-text" });
  const bar = h("div", { class: "capacity", role: "meter", "aria-valuemin": 0 }, h("span", { class: "track" }, fill), text);
  updateCapacityBar(bar, sent, limit, label);
  return bar;
}

export function updateCapacityBar(bar, sent, limit, label) {
  const share = limit > 0 ? Math.min(sent / limit, 1) : 0;
  bar.setAttribute("aria-valuemax", String(limit));
  bar.setAttribute("aria-valuenow", String(Math.min(sent, limit)));
  bar.setAttribute("aria-label", label);
  bar.setAttribute("aria-valuetext", t("capacity.valuetext", { sent: formatNumber(sent), limit: formatNumber(limit) }));
  bar.dataset.sent = String(sent);
  bar.dataset.limit = String(limit);
  bar.classList.toggle("full", limit > 0 && sent >= limit);
  bar.querySelector(".fill").style.width = `${(share * 100).toFixed(1)}%`;
  bar.querySelector(".bar-text").textContent = `${formatNumber(sent)} / ${formatNumber(limit)}`;
}

/** An instance's link to WhatsApp, in words and colour. */
export function statusBadge(status, reason) {
  const badge = h("span", { class: "status" });
  updateStatusBadge(badge, status, reason);
  return badge;
}

export function updateStatusBadge(badge, status, reason) {
  badge.className = `status status-${status}`;
  badge.dataset.status = status;
  const because = status === "disconnected" && reason ? t(`status_reason.${reason}`, {}, "") : "";
  badge.textContent = because ? `${t(`status.${status}`)} (${because})` : t(`status.${status}`);
}

/** Previous / next buttons for a paginated list's `meta`. */
export function pager(meta, go) {
  if (!meta || meta.last_page <= 1) return h("p", { class: "pager-total" }, t("list.total", { total: formatNumber(meta ? meta.total : 0) }));
  return h("nav", { class: "pager", "aria-label": t("list.pages") },
    h("button", { type: "button", class: "secondary", disabled: meta.current_page <= 1, onclick: () => go(meta.current_page - 1) }, t("list.previous")),
    h("span", {}, t("list.page_of", { page: meta.current_page, pages: meta.last_page, total: formatNumber(meta.total) })),
    h("button", { type: "button", class: "secondary", disabled: meta.current_page >= meta.last_page, onclick: () => go(meta.current_page + 1) }, t("list.next")));
}

/**
 * A table with a caption; rows are arrays of cells (nodes or text), or <tr>s. Each cell
 * carries its column's name, which the phone layout shows beside it.
 */
export function table(caption, headers, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const body = h("tbody", {}, rows.map((row) => (row instanceof HTMLTableRowElement ? row : h("tr", {}, row.map((cell) => h("td", {}, cell))))));
  for (const row of body.rows) {
    [...row.cells].forEach((cell, index) => {
      cell.dataset.label = headers[index] ?? "";
    });
  }
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((header) => h("th", { scope: "col" }, header)))),
      body));
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = uniqueId("section");
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}
