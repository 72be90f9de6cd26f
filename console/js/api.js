// The console's client of Relevo's public REST API: the JWT from /api/v1/auth/login kept
// in sessionStorage, answers unwrapped, and failures turned into an ApiError that says in
// words what went wrong (the body's `message` and, for a 422, every field's messages).

import { lang, t } from "./i18n.js";

const SESSION_KEY = "relevo.session";

export class ApiError extends Error {
  constructor(status, message, fieldErrors = {}, errorKey = null) {
    super(message);
    this.status = status;
    this.fieldErrors = fieldErrors;
    this.errorKey = errorKey;
  }
}

/** The logged-in user and token, or null. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

export function endSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

export async function login(email, password) {
  const data = await request("POST", "/api/v1/auth/login", { email, password }, null);
  const current = { token: data.data.access_token, user: data.data.user };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(current));
  return current;
}

/** Listeners told when the API says the session is over (401). */
const expiredListeners = [];
export function onSessionExpired(listener) {
  expiredListeners.push(listener);
}

/** Calls the API with the session's token; answers the parsed body. */
export async function api(method, path, body) {
  const current = session();
  try {
    return await request(method, path, body, current && current.token);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && current) {
      endSession();
      expiredListeners.forEach((listener) => listener());
    }
    throw error;
  }
}

/** Every page of a list endpoint, up to `limit` rows. */
export async function listAll(path, limit = 500) {
  const rows = [];
  for (let page = 1; rows.length < limit; page++) {
    const separator = path.includes("?") ? "&" : "?";
    const answer = await api("GET", `${path}${separator}per_page=100&page=${page}`);
    rows.push(...answer.data);
    if (page >= answer.meta.last_page) break;
  }
  return rows;
}

async function request(method, path, body, token) {
  const headers = { Accept: "application/json", "Accept-Language": lang() };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined && body !== null) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined || body === null ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, t("error.network"));
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (response.ok) return parsed;
  const message =
    parsed && typeof parsed.message === "string" ? parsed.message : t("error.status", { status: response.status });
  const fieldErrors = parsed && parsed.errors && typeof parsed.errors === "object" ? parsed.errors : {};
  throw new ApiError(response.status, message, fieldErrors, parsed && parsed.error_key);
}

/** The lines that describe an error to a person: its message, then each field's messages. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return { message: t("error.unexpected"), fields: [] };
  const fields = [];
  for (const [field, messages] of Object.entries(error.fieldErrors)) {
    const list = Array.isArray(messages) ? messages : [String(messages)];
    for (const message of list) fields.push({ field, message: String(message) });
  }
  return { message: error.message, fields };
}
