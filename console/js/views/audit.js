// The audit log: who changed what and when, filtered by action, tenant and dates; each
// entry's changes listed field by field.

import { api, listAll } from "../api.js";
import { errorBox, field, h, pager, replace, table } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";

const ACTIONS = [
  "tenant.created", "tenant.updated", "tenant.deleted", "user.created", "user.updated", "user.deleted",
  "instance.created", "instance.updated", "instance.deleted", "instance.activated", "instance.deactivated",
  "instance.counter_reset", "instance.provisioned", "instance.connect", "instance.logout", "instance.restart",
  "instance.webhook_set", "instance.websocket_set", "sender_token.created", "sender_token.revoked",
  "evolution_server.created", "evolution_server.updated", "evolution_server.deleted", "webhook_delivery.replayed",
  "auth.login", "auth.login_failed", "auth.login_throttled",
];

export async function render(ctx) {
  ctx.title(t("audit.title"));
  const tenants = await listAll("/api/v1/tenants").catch(() => []);
  const tenantNames = new Map(tenants.map((tenant) => [tenant.id, tenant.nombre]));
  const filters = h("form", { class: "filters", role: "search" },
    field(t("audit.action"), "action", { options: [["", t("audit.any_action")], ...ACTIONS.map((action) => [action, action])] }),
    field(t("instances.tenant"), "tenant_id", { options: [["", t("instances.any_tenant")], ...tenants.map((tenant) => [tenant.id, tenant.nombre])] }),
    field(t("audit.from"), "from", { type: "date" }),
    field(t("audit.to"), "to", { type: "date" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("action.filter"))));
  const list = h("div", {});
  let page = 1;

  const load = async () => {
    const parameters = new URLSearchParams({ page: String(page) });
    for (const control of filters.elements) {
      if (control.name && control.value) parameters.set(control.name, control.value);
    }
    const answer = await api("GET", `/api/v1/audit-log?${parameters}`);
    const rows = answer.data.map((entry) => [
      formatDateTime(entry.created_at),
      entry.actor_email,
      h("code", {}, entry.action),
      `${t(`target.${entry.target_type}`, {}, entry.target_type)} #${entry.target_id}`,
      entry.tenant_id === null ? "—" : tenantNames.get(entry.tenant_id) || `#${entry.tenant_id}`,
      changes(entry.before, entry.after),
    ]);
    replace(list,
      table(t("audit.title"), [t("audit.when"), t("audit.who"), t("audit.action"), t("audit.target"), t("instances.tenant"), t("audit.changes")], rows, t("audit.empty")),
      pager(answer.meta, (next) => {
        page = next;
        load().catch((error) => replace(list, errorBox(error)));
      }));
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    page = 1;
    load().catch((error) => replace(list, errorBox(error)));
  });
  replace(ctx.main, h("h1", {}, t("audit.title")), filters, list);
  await load();
}

/** The fields an entry changed, as `field: before → after`. */
function changes(before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])];
  const changed = keys.filter((key) => JSON.stringify((before || {})[key]) !== JSON.stringify((after || {})[key]));
  if (!changed.length) return "—";
  const shown = (value) => (value === undefined ? "—" : value === null ? "null" : typeof value === "object" ? JSON.stringify(value) : String(value));
  const items = changed.map((key) => h("li", {}, h("strong", {}, key), ": ", before ? `${shown(before[key])} → ` : "", shown((after || {})[key])));
  if (items.length <= 3) return h("ul", { class: "changes" }, items);
  return h("details", {}, h("summary", {}, t("audit.n_changes", { count: items.length })), h("ul", { class: "changes" }, items));
}
