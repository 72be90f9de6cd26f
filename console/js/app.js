// The console's shell: the session, the navigation, the language switch, and a router that
// gives each page (js/views/) its context: route parameters, the user, whether it is
// read-only, and polling that stops when the page is left.

import { endSession, onSessionExpired, session } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { formatTime, lang, setLang, t, translateStatic } from "./i18n.js";
import * as audit from "./views/audit.js";
import * as instance from "./views/instance.js";
import * as instances from "./views/instances.js";
import * as login from "./views/login.js";
import * as servers from "./views/servers.js";
import * as tenant from "./views/tenant.js";
import * as tenants from "./views/tenants.js";

const SUPER_ADMIN = "super_admin";
const TENANT_USER = "tenant_user";

const ROUTES = [
  { pattern: /^\/login$/, view: login, role: null },
  { pattern: /^\/tenants$/, view: tenants, role: SUPER_ADMIN, nav: "tenants" },
  { pattern: /^\/tenants\/(?<tenant>\d+)$/, view: tenant, role: SUPER_ADMIN, nav: "tenants" },
  { pattern: /^\/tenants\/(?<tenant>\d+)\/instances\/(?<instance>\d+)$/, view: instance, role: SUPER_ADMIN, nav: "tenants" },
  { pattern: /^\/instances$/, view: instances, role: SUPER_ADMIN, nav: "instances" },
  { pattern: /^\/servers$/, view: servers, role: SUPER_ADMIN, nav: "servers" },
  { pattern: /^\/audit$/, view: audit, role: SUPER_ADMIN, nav: "audit" },
  { pattern: /^\/my$/, view: tenant, role: TENANT_USER, nav: "my" },
  { pattern: /^\/my\/instances\/(?<instance>\d+)$/, view: instance, role: TENANT_USER, nav: "my" },
];

const NAV = {
  [SUPER_ADMIN]: [["tenants", "#/tenants"], ["instances", "#/instances"], ["servers", "#/servers"], ["audit", "#/audit"]],
  [TENANT_USER]: [["my", "#/my"]],
};

/** How often live pages ask the API again. */
const POLL_MS = 2000;

let current = null;

function home(user) {
  return user.role === SUPER_ADMIN ? "#/tenants" : "#/my";
}

function dispose() {
  if (!current) return;
  current.disposed = true;
  current.timers.forEach(clearTimeout);
  current = null;
}

function renderNav(route, user) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const logout = document.getElementById("logout");
  if (!user) {
    replace(nav);
    who.textContent = "";
    logout.hidden = true;
    return;
  }
  replace(nav, h("ul", {}, NAV[user.role].map(([key, href]) =>
    h("li", {}, h("a", { href, "aria-current": route && route.nav === key ? "page" : null }, t(`nav.${key}`))))));
  who.textContent = user.email;
  logout.hidden = false;
}

function context(main, params, user) {
  const live = h("p", { class: "live" });
  const ctx = {
    main,
    params,
    user,
    readOnly: user ? user.role !== SUPER_ADMIN : true,
    disposed: false,
    timers: [],
    live,
    /** Runs `fn` every `ms` while the page is shown; failures are told in `live`. */
    every(fn, ms = POLL_MS) {
      const tick = async () => {
        if (ctx.disposed) return;
        try {
          await fn();
          live.classList.remove("stale");
          live.textContent = t("live.updated", { time: formatTime(new Date()) });
        } catch (error) {
          live.classList.add("stale");
          live.textContent = t("live.failed", { message: error.message });
        }
        if (!ctx.disposed) ctx.timers.push(setTimeout(tick, ms));
      };
      ctx.timers.push(setTimeout(tick, ms));
    },
    title(text) {
      document.title = `${text} · Relevo`;
    },
  };
  return ctx;
}

async function render(event) {
  dispose();
  const path = location.hash.replace(/^#/, "") || "/";
  const active = session();
  const user = active && active.user;
  const match = ROUTES.map((route) => ({ route, found: route.pattern.exec(path) })).find(({ found }) => found);
  if (!user && (!match || match.route.role)) {
    location.replace("#/login");
    return;
  }
  if (user && (!match || (match.route.role && match.route.role !== user.role) || !match.route.role)) {
    location.replace(home(user));
    return;
  }
  const main = document.getElementById("main");
  const ctx = context(main, match.found.groups || {}, user);
  current = ctx;
  renderNav(match.route, user);
  replace(main, h("p", { class: "loading" }, t("loading")));
  try {
    await match.route.view.render(ctx);
    // After a click on a link, the new page's heading is where keyboard and screen reader
    // users continue from.
    const heading = main.querySelector("h1");
    if (event && heading && !ctx.disposed) {
      heading.tabIndex = -1;
      heading.focus();
    }
  } catch (error) {
    if (ctx.disposed) return;
    replace(main, h("h1", {}, t("error.page")), h("div", { class: "error", role: "alert" }, h("p", {}, error.message)));
  }
}

function start() {
  translateStatic();
  const select = document.getElementById("lang");
  select.value = lang();
  select.addEventListener("change", () => {
    setLang(select.value);
    translateStatic();
    render();
  });
  document.getElementById("logout").addEventListener("click", () => {
    endSession();
    location.hash = "#/login";
  });
  onSessionExpired(() => {
    toast(t("session.expired"), "error");
    location.hash = "#/login";
  });
  addEventListener("hashchange", render);
  render();
}

start();
