/*
 * Acme Cloud account page: the browser side of django-token-sessions. Plain JS, no build.
 *
 * How it handles tokens
 *   - The access token lives ONLY in the `accessToken` variable below: never in
 *     localStorage, sessionStorage or a cookie. Reloading the page loses it on purpose.
 *   - The refresh token is an HttpOnly cookie (`tokensessions_refresh`, Path=/api/auth/)
 *     that login and refresh set. This script never reads, stores or sends a `refresh`
 *     field from a JSON body, even when a server still returns one.
 *   - Refresh and logout send that cookie (`credentials: "same-origin"`) plus Django's
 *     double-submit CSRF header: X-CSRFToken = the value of the `csrftoken` cookie, which
 *     the page view sets (@ensure_csrf_cookie).
 *   - Silent refresh on page load; a timer refreshes shortly before the access token
 *     expires; any 401 from an API call causes one refresh and one retry. A refused refresh
 *     means the session is over: the page shows the sign-in form.
 *
 * Stable hooks for tests (id and data-testid are the same unless noted)
 *   body[data-state]        "loading" | "signed-out" | "signed-in"
 *   notice                  flash message (info / success / warning) above the content
 *   loading                 "Checking your session…" section
 *   signin                  sign-in section; signin-form, signin-username, signin-password,
 *                           signin-submit, signin-error
 *   account                 signed-in section
 *   usermenu-name, signout  header: username and "Sign out" (POST logout)
 *   me-username, me-email, me-user-id, me-session-id    profile card (GET /api/me/)
 *   token-status            "Access token refreshed at HH:MM:SS" (or "issued at" after sign-in)
 *   token-expires, token-rotations, refresh-now (button), activity (list)
 *   devices-panel, devices-reload, devices-count, devices-table, signout-others
 *   devices-table[data-renders]  counts completed renders of the list (wait for it to grow)
 *   device-row              one per session (data-testid only); attributes
 *                           data-session-id and data-current="true|false"; inside it:
 *                           device-name, device-label, device-current-badge, device-ip,
 *                           device-created, device-last-seen, device-rename,
 *                           device-revoke, device-rename-form, device-rename-input,
 *                           device-rename-save, device-rename-cancel
 *   signout-everywhere      "Sign out everywhere" (POST logout-all, scope "all")
 */
(() => {
  "use strict";

  const body = document.body;
  const URLS = {
    login: body.dataset.loginUrl,
    refresh: body.dataset.refreshUrl,
    logout: body.dataset.logoutUrl,
    logoutAll: body.dataset.logoutAllUrl,
    sessions: body.dataset.sessionsUrl,
    me: body.dataset.meUrl,
  };
  const RETRY_AFTER_NETWORK_ERROR_MS = 10000;

  // --- token state: memory only -------------------------------------------------------
  let accessToken = null;
  let accessExpiresAt = 0; // ms since epoch, on this browser's clock
  let refreshTimer = null;
  let refreshInFlight = null;
  let rotations = 0;

  const $ = (id) => document.getElementById(id);
  const el = {
    notice: $("notice"),
    loading: $("loading"),
    signin: $("signin"),
    account: $("account"),
    usermenu: $("usermenu"),
    form: $("signin-form"),
    username: $("signin-username"),
    password: $("signin-password"),
    submit: $("signin-submit"),
    signinError: $("signin-error"),
    tokenStatus: $("token-status"),
    tokenExpires: $("token-expires"),
    tokenRotations: $("token-rotations"),
    activity: $("activity"),
    devicesBody: $("devices-body"),
    devicesCount: $("devices-count"),
    devicesTable: $("devices-table"),
    rowTemplate: $("device-row-template"),
  };

  // --- small helpers ------------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (d = new Date()) =>
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;

  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === "csrftoken") return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  function relativeTime(iso) {
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return "—";
    const seconds = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (seconds < 45) return "Just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    if (hours < 24) return `${hours} h ago`;
    return shortDate(iso);
  }

  function shortDate(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "—";
    return d.toLocaleString(undefined, {
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
    });
  }

  function showNotice(message, kind = "info") {
    el.notice.textContent = message;
    el.notice.className = `notice notice-${kind}`;
    el.notice.hidden = false;
  }

  function clearNotice() {
    el.notice.hidden = true;
    el.notice.textContent = "";
  }

  function logActivity(message) {
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = clock();
    item.append(time, document.createTextNode(message));
    el.activity.prepend(item);
    while (el.activity.children.length > 5) el.activity.lastElementChild.remove();
  }

  function setState(state) {
    body.dataset.state = state;
    el.loading.hidden = state !== "loading";
    el.signin.hidden = state !== "signed-out";
    el.account.hidden = state !== "signed-in";
    el.usermenu.hidden = state !== "signed-in";
  }

  // --- HTTP ---------------------------------------------------------------------------
  /** fetch() with JSON, the CSRF header on unsafe methods and, if asked, the bearer. */
  function send(method, url, { json, bearer = true } = {}) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    if (method !== "GET") {
      const csrf = csrfToken();
      if (csrf) headers["X-CSRFToken"] = csrf;
    }
    if (bearer && accessToken) headers.Authorization = `Bearer ${accessToken}`;
    return fetch(url, init);
  }

  async function errorOf(response) {
    try {
      const data = await response.json();
      if (data && typeof data === "object") {
        return {
          status: response.status,
          code: String(data.code || `http_${response.status}`),
          detail: String(data.detail || `Request failed (${response.status}).`),
        };
      }
    } catch (_ignored) {
      // Not JSON: fall through.
    }
    return {
      status: response.status,
      code: `http_${response.status}`,
      detail: `Request failed (${response.status}).`,
    };
  }

  /** The access token's lifetime in ms: exp - iat of its payload (immune to clock skew). */
  function lifetimeOf(data) {
    try {
      const part = data.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const payload = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
      if (typeof payload.exp === "number" && typeof payload.iat === "number") {
        return (payload.exp - payload.iat) * 1000;
      }
    } catch (_ignored) {
      // Fall back to the server's timestamp below.
    }
    const expires = Date.parse(data.access_expires_at);
    return Number.isNaN(expires) ? 60000 : Math.max(0, expires - Date.now());
  }

  /** Keep the new access token (only that: a `refresh` field, if any, is ignored). */
  function acceptAccess(data, how) {
    accessToken = data.access;
    const lifetime = lifetimeOf(data);
    accessExpiresAt = Date.now() + lifetime;
    const lead = Math.min(15000, lifetime / 4);
    scheduleRefresh(Math.max(1000, lifetime - lead));
    el.tokenStatus.textContent =
      how === "issued" ? `Access token issued at ${clock()}` : `Access token refreshed at ${clock()}`;
    if (how !== "issued") {
      rotations += 1;
      el.tokenRotations.textContent = String(rotations);
    }
    tick();
  }

  function scheduleRefresh(delay) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refresh("timer");
    }, delay);
  }

  /**
   * POST refresh with the cookie. Resolves to "ok", "signed-out" (the server refused: the
   * session is over, the page now shows the sign-in form) or "unavailable" (network or
   * server trouble: still signed in, retried later). Concurrent callers share one request.
   */
  function refresh(reason) {
    if (refreshInFlight) return refreshInFlight;
    refreshInFlight = (async () => {
      try {
        const response = await send("POST", URLS.refresh, { json: {}, bearer: false });
        if (response.ok) {
          acceptAccess(await response.json(), "refreshed");
          logActivity(
            reason === "load" ? "Session restored from this device" : "Tokens rotated (refresh)",
          );
          return "ok";
        }
        const error = await errorOf(response);
        if (response.status >= 500 || response.status === 429) {
          scheduleRefresh(RETRY_AFTER_NETWORK_ERROR_MS);
          if (reason !== "load") showNotice(`Could not refresh your session: ${error.detail}`, "warning");
          return "unavailable";
        }
        signOutLocally(reason === "load" ? null : explain(error));
        return "signed-out";
      } catch (_networkError) {
        scheduleRefresh(RETRY_AFTER_NETWORK_ERROR_MS);
        showNotice("Cannot reach Acme Cloud. Retrying in a few seconds…", "warning");
        return "unavailable";
      } finally {
        refreshInFlight = null;
      }
    })();
    return refreshInFlight;
  }

  function explain(error) {
    switch (error.code) {
      case "session_revoked":
        return "You were signed out: this device's session was ended.";
      case "token_reused":
        return "You were signed out: your sign-in token was used twice, so the session was ended to protect your account.";
      case "csrf_failed":
        return "This page's security token is missing or stale. Reload the page to continue.";
      case "session_expired":
      case "token_expired":
        return "Your session has expired. Please sign in again.";
      default:
        return `You were signed out: ${error.detail}`;
    }
  }

  /**
   * An authenticated API call. On a 401 it refreshes once and retries once. Resolves to
   * the Response, or to null when the session turned out to be over (the sign-in form is
   * showing by then). Throws when the server cannot be reached.
   */
  async function api(method, url, json) {
    if (!accessToken) {
      const outcome = await refresh("api");
      if (outcome !== "ok") return null;
    }
    let response = await send(method, url, { json });
    if (response.status !== 401) return response;
    const outcome = await refresh("401");
    if (outcome === "signed-out") return null;
    if (outcome === "unavailable") throw new Error("unavailable");
    response = await send(method, url, { json });
    if (response.status === 401) {
      signOutLocally(explain(await errorOf(response)));
      return null;
    }
    return response;
  }

  /** Run an action, turning "server unreachable" and error bodies into a notice. */
  async function guarded(action) {
    try {
      await action();
    } catch (_error) {
      showNotice("Cannot reach Acme Cloud right now. Please try again.", "warning");
    }
  }

  // --- signed in / signed out -----------------------------------------------------------
  function signOutLocally(message) {
    accessToken = null;
    accessExpiresAt = 0;
    clearTimeout(refreshTimer);
    refreshTimer = null;
    for (const id of ["me-username", "me-email", "me-user-id", "me-session-id", "usermenu-name"]) {
      $(id).textContent = "";
    }
    el.devicesBody.replaceChildren();
    el.activity.replaceChildren();
    el.tokenStatus.textContent = "";
    rotations = 0;
    el.tokenRotations.textContent = "0";
    setState("signed-out");
    if (message) showNotice(message, "warning");
    else clearNotice();
    el.username.focus();
  }

  async function enterSignedIn() {
    setState("signed-in");
    await Promise.all([loadMe(), loadDevices()]);
  }

  async function loadMe() {
    const response = await api("GET", URLS.me);
    if (!response) return;
    if (!response.ok) {
      showNotice((await errorOf(response)).detail, "warning");
      return;
    }
    const me = await response.json();
    const initial = (me.username || "?").slice(0, 1).toUpperCase();
    $("me-username").textContent = me.username;
    $("me-email").textContent = me.email || "No email address";
    $("me-user-id").textContent = me.id;
    $("me-session-id").textContent = me.session_id;
    $("usermenu-name").textContent = me.username;
    $("me-avatar").textContent = initial;
    $("usermenu-avatar").textContent = initial;
  }

  // --- devices --------------------------------------------------------------------------
  const ICON_DESKTOP =
    '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="1.8"><rect x="3" y="4" width="18" height="12" rx="2"/><path d="M8 20h8M12 16v4"/></svg>';
  const ICON_PHONE =
    '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="1.8"><rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/></svg>';

  async function loadDevices() {
    const response = await api("GET", URLS.sessions);
    if (!response) return;
    if (!response.ok) {
      showNotice((await errorOf(response)).detail, "warning");
      return;
    }
    const sessions = await response.json();
    sessions.sort((a, b) => Number(b.current) - Number(a.current));
    el.devicesBody.replaceChildren(...sessions.map(deviceRow));
    const n = sessions.length;
    el.devicesCount.textContent = `${n} active ${n === 1 ? "session" : "sessions"}.`;
    el.devicesTable.dataset.renders = String(Number(el.devicesTable.dataset.renders || 0) + 1);
  }

  function deviceRow(session) {
    const row = el.rowTemplate.content.firstElementChild.cloneNode(true);
    const part = (testid) => row.querySelector(`[data-testid="${testid}"]`);
    row.dataset.sessionId = session.id;
    row.dataset.current = String(Boolean(session.current));
    if (session.current) row.classList.add("is-current");

    const label = session.device_label || "Unknown device";
    part("device-name").textContent = session.name || label;
    part("device-label").textContent = session.custom_name ? label : "";
    part("device-current-badge").hidden = !session.current;
    row.querySelector(".device-icon").innerHTML = /iOS|Android|iPhone|iPad/i.test(label)
      ? ICON_PHONE
      : ICON_DESKTOP;
    part("device-ip").textContent = session.ip_address || "—";
    part("device-created").textContent = shortDate(session.created_at);
    const lastSeen = part("device-last-seen");
    lastSeen.textContent = session.current ? "Active now" : relativeTime(session.last_seen_at);
    lastSeen.title = new Date(session.last_seen_at).toLocaleString();

    const form = part("device-rename-form");
    const input = part("device-rename-input");
    const renameButton = part("device-rename");
    const revokeButton = part("device-revoke");
    // This device is ended with "Sign out" in the header, not revoked from the list.
    revokeButton.hidden = Boolean(session.current);

    const closeRename = () => {
      form.hidden = true;
      renameButton.hidden = false;
    };
    renameButton.addEventListener("click", () => {
      input.value = session.custom_name || session.name || "";
      form.hidden = false;
      renameButton.hidden = true;
      input.focus();
      input.select();
    });
    part("device-rename-cancel").addEventListener("click", closeRename);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closeRename();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(async () => {
        const response = await api("PATCH", `${URLS.sessions}${session.id}/`, {
          name: input.value.trim(),
        });
        if (!response) return;
        if (!response.ok) {
          showNotice((await errorOf(response)).detail, "warning");
          return;
        }
        await loadDevices();
        showNotice("Device renamed.", "success");
      });
    });

    revokeButton.addEventListener("click", () => {
      revokeButton.disabled = true;
      guarded(async () => {
        const response = await api("DELETE", `${URLS.sessions}${session.id}/`);
        if (!response) return;
        let message = ["That device was already signed out.", "info"];
        if (response.ok) {
          message = [`Signed out “${session.name || label}”.`, "success"];
          logActivity("A device was signed out");
        } else if (response.status !== 404) {
          message = [(await errorOf(response)).detail, "warning"];
        }
        await loadDevices();
        showNotice(...message);
      });
    });
    return row;
  }

  // --- actions --------------------------------------------------------------------------
  async function signIn(event) {
    event.preventDefault();
    el.signinError.hidden = true;
    const username = el.username.value.trim();
    const password = el.password.value;
    if (!username || !password) {
      showSigninError("Enter your username and password.");
      return;
    }
    el.submit.disabled = true;
    el.submit.textContent = "Signing in…";
    try {
      const response = await send("POST", URLS.login, {
        json: { username, password },
        bearer: false,
      });
      if (!response.ok) {
        const error = await errorOf(response);
        showSigninError(
          {
            invalid_credentials: "Wrong username or password.",
            invalid_request: "Enter your username and password.",
          }[error.code] || error.detail,
        );
        el.password.select();
        return;
      }
      const data = await response.json();
      el.password.value = "";
      clearNotice();
      acceptAccess(data, "issued");
      logActivity("Signed in");
      await enterSignedIn();
    } catch (_networkError) {
      showSigninError("Cannot reach Acme Cloud. Check your connection and try again.");
    } finally {
      el.submit.disabled = false;
      el.submit.textContent = "Sign in";
    }
  }

  function showSigninError(message) {
    el.signinError.textContent = message;
    el.signinError.hidden = false;
  }

  async function signOut() {
    // The cookie names the session; the bearer is a fallback for a server that takes the
    // refresh token from JSON bodies only. A stale bearer would fail authentication, so
    // it is sent only while it is surely still valid.
    const bearer = Boolean(accessToken) && Date.now() < accessExpiresAt - 2000;
    try {
      await send("POST", URLS.logout, { json: {}, bearer });
    } catch (_networkError) {
      // Signed out here anyway; the server session expires on its own.
    }
    signOutLocally("You have signed out.");
  }

  async function signOutOthers() {
    const response = await api("POST", URLS.logoutAll, { scope: "others" });
    if (!response) return;
    if (!response.ok) {
      showNotice((await errorOf(response)).detail, "warning");
      return;
    }
    logActivity("Other devices signed out");
    await loadDevices();
    showNotice("All other devices were signed out.", "success");
  }

  async function signOutEverywhere() {
    const response = await api("POST", URLS.logoutAll, { scope: "all" });
    if (!response) return;
    if (!response.ok) {
      showNotice((await errorOf(response)).detail, "warning");
      return;
    }
    // This session is revoked now; logout with the cookie lets the server clear it.
    try {
      await send("POST", URLS.logout, { json: {}, bearer: false });
    } catch (_networkError) {
      // Nothing more to do: the session is already over.
    }
    signOutLocally("You were signed out on every device.");
  }

  // --- the clock in the session card ------------------------------------------------------
  function tick() {
    if (!accessToken) return;
    const left = Math.round((accessExpiresAt - Date.now()) / 1000);
    el.tokenExpires.textContent =
      left > 0 ? `in ${left} s (${clock(new Date(accessExpiresAt))})` : "expired, refreshing…";
  }

  function onVisible() {
    // Timers sleep with the tab: catch up as soon as the page is looked at again.
    if (document.visibilityState === "visible" && accessToken && Date.now() > accessExpiresAt - 5000) {
      refresh("resume");
    }
  }

  // --- wiring ---------------------------------------------------------------------------
  el.form.addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => guarded(signOut));
  $("signout-others").addEventListener("click", () => guarded(signOutOthers));
  $("signout-everywhere").addEventListener("click", () => guarded(signOutEverywhere));
  $("devices-reload").addEventListener("click", () => guarded(loadDevices));
  $("refresh-now").addEventListener("click", () =>
    guarded(async () => {
      const outcome = await refresh("manual");
      if (outcome === "ok") await loadDevices();
    }),
  );
  document.addEventListener("visibilitychange", onVisible);
  setInterval(tick, 1000);

  // Silent refresh on load: the HttpOnly cookie, if any, brings the session back.
  (async () => {
    setState("loading");
    const outcome = await refresh("load");
    if (outcome === "ok") {
      await guarded(enterSignedIn);
    } else if (outcome === "unavailable") {
      // Not known to be signed out, but nothing works without the server: offer the form.
      clearTimeout(refreshTimer);
      setState("signed-out");
      showNotice("Cannot reach Acme Cloud right now. Reload the page to try again.", "warning");
    }
  })();
})();
