// The Evolution API servers, each with its health (version and latency, or why it does
// not answer), and the forms that add, change and remove them.

import { api, listAll } from "../api.js";
import { confirmAction, errorBox, field, form, h, replace, section, table, toast } from "../dom.js";
import { formatNumber, t } from "../i18n.js";

export async function render(ctx) {
  ctx.title(t("servers.title"));
  const list = h("div", {});

  const load = async () => {
    const servers = await listAll("/api/v1/evolution-servers");
    const rows = servers.map((server) => {
      const health = h("span", { class: "health" }, t("servers.checking"));
      checkHealth(server, health);
      const check = h("button", { type: "button", class: "secondary small" }, t("servers.check"));
      check.addEventListener("click", () => checkHealth(server, health));
      const toggle = h("button", { type: "button", class: "secondary small" }, server.is_active ? t("action.deactivate") : t("action.activate"));
      toggle.addEventListener("click", async () => {
        try {
          await api("PUT", `/api/v1/evolution-servers/${server.id}`, { is_active: !server.is_active });
          toast(t("servers.saved", { name: server.name }));
          await load();
        } catch (error) {
          replace(list, errorBox(error));
        }
      });
      const makeDefault = server.is_default ? null : h("button", { type: "button", class: "secondary small" }, t("servers.make_default"));
      makeDefault?.addEventListener("click", async () => {
        try {
          await api("PUT", `/api/v1/evolution-servers/${server.id}`, { is_default: true });
          toast(t("servers.saved", { name: server.name }));
          await load();
        } catch (error) {
          replace(list, errorBox(error));
        }
      });
      const remove = h("button", { type: "button", class: "danger small" }, t("action.delete"));
      remove.addEventListener("click", async () => {
        if (!(await confirmAction(t("servers.delete_confirm", { name: server.name }), t("action.delete")))) return;
        try {
          await api("DELETE", `/api/v1/evolution-servers/${server.id}`);
          toast(t("servers.deleted", { name: server.name }));
          await load();
        } catch (error) {
          replace(list, errorBox(error));
        }
      });
      return [
        h("span", {}, server.name, server.is_default ? h("span", { class: "tag" }, t("servers.default")) : null),
        h("code", {}, server.base_url),
        server.is_active ? t("yes") : t("no"),
        formatNumber(server.instances_count),
        health,
        h("div", { class: "buttons" }, check, toggle, makeDefault, remove),
      ];
    });
    replace(list, table(t("servers.title"), [t("field.name"), t("field.base_url"), t("servers.active"), t("servers.instances"), t("servers.health"), t("actions")], rows, t("servers.empty")));
  };

  const create = form("create-server", [
    field(t("field.name"), "name", { required: true }),
    field(t("field.base_url"), "base_url", { type: "url", required: true, hint: t("servers.url_hint") }),
    field(t("field.api_key"), "api_key", { type: "password", required: true, autocomplete: "off", hint: t("servers.key_hint") }),
    field(t("servers.active"), "is_active", { type: "checkbox", value: true }),
    field(t("servers.default"), "is_default", { type: "checkbox" }),
  ], t("servers.create"), async (values, element) => {
    await api("POST", "/api/v1/evolution-servers", values);
    toast(t("servers.created", { name: values.name }));
    element.reset();
    await load();
  });

  // Evolution API's licence asks that administrators can see it is used.
  const poweredBy = h("p", { class: "hint", id: "evolution-notice" }, t("servers.powered_by"), " ",
    h("a", { href: "https://github.com/EvolutionAPI/evolution-api", rel: "noopener noreferrer", target: "_blank" }, "Evolution API"), ".");
  replace(ctx.main, h("h1", {}, t("servers.title")), poweredBy, section(t("servers.all"), list), section(t("servers.new"), create));
  await load();
}

async function checkHealth(server, target) {
  target.className = "health";
  target.textContent = t("servers.checking");
  try {
    const health = (await api("GET", `/api/v1/evolution-servers/${server.id}/health`)).data;
    if (health.status === "unauthorized") {
      target.classList.add("bad");
      target.textContent = t("servers.key_refused", { version: health.version || "?" });
      return;
    }
    target.classList.add("ok");
    target.textContent = t("servers.healthy", { version: health.version || "?", latency: formatNumber(health.latency_ms) });
  } catch (error) {
    target.classList.add("bad");
    target.textContent = error.message;
  }
}
