// Every tenant's instances with live status, filtered by tenant, status, activity or a
// search on name and phone.

import { api, listAll } from "../api.js";
import { errorBox, field, h, pager, replace, section } from "../dom.js";
import { t } from "../i18n.js";
import { instancesTable } from "./tenant.js";

const STATUSES = ["unknown", "connecting", "connected", "disconnected", "error"];

export async function render(ctx) {
  ctx.title(t("instances.all"));
  const tenants = await listAll("/api/v1/tenants").catch(() => []);
  const tenantNames = new Map(tenants.map((tenant) => [tenant.id, tenant.nombre]));
  const filters = h("form", { class: "filters", role: "search" },
    field(t("instances.search"), "search", { type: "search" }),
    field(t("instances.tenant"), "tenant_id", { options: [["", t("instances.any_tenant")], ...tenants.map((tenant) => [tenant.id, tenant.nombre])] }),
    field(t("instances.status"), "connection_status", { options: [["", t("instances.any_status")], ...STATUSES.map((status) => [status, t(`status.${status}`)])] }),
    field(t("instances.active"), "is_active", { options: [["", t("instances.any")], ["true", t("yes")], ["false", t("no")]] }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("action.filter"))));
  const list = h("div", {});
  const instances = instancesTable(ctx, null);
  const footer = h("div", {});
  let page = 1;

  const query = () => {
    const parameters = new URLSearchParams({ page: String(page), per_page: "50" });
    for (const control of filters.elements) {
      if (control.name && control.value.trim()) parameters.set(control.name, control.value.trim());
    }
    return `/api/v1/whatsapp-instances?${parameters}`;
  };
  const load = async () => {
    const answer = await api("GET", query());
    instances.update(answer.data);
    replace(footer, pager(answer.meta, (next) => {
      page = next;
      load().catch((error) => replace(footer, errorBox(error)));
    }));
    for (const row of instances.element.querySelectorAll("tr[data-instance-id]")) {
      const instance = answer.data.find((item) => String(item.id) === row.dataset.instanceId);
      const name = row.querySelector("th");
      if (instance && !name.querySelector(".tenant-name")) name.append(h("span", { class: "tenant-name" }, tenantNames.get(instance.tenant_id) || `#${instance.tenant_id}`));
    }
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    page = 1;
    load().catch((error) => replace(footer, errorBox(error)));
  });
  replace(list, instances.element, footer);
  replace(ctx.main, h("h1", {}, t("instances.all")), ctx.live, filters, section(t("instances.title"), list));
  await load();
  ctx.every(load);
}
