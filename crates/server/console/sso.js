// Single sign-on for the console (docs/security.md, "Single sign-on"). Loaded before app.js:
// takes the session token the server's callback hands over in the URL fragment (a fragment is
// never sent to a server, so it is in no request log) into the tab's storage and out of the
// address bar and history; offers "Sign in with SSO" on the sign-in page when the server has
// it; and makes "Sign out" revoke the session's token, not only forget it.
"use strict";
(() => {
  const handed = new URLSearchParams(location.hash.startsWith("#sso-token=") ? location.hash.slice(1) : "");
  if (handed.get("sso-token")) {
    sessionStorage.setItem("sy_token", handed.get("sso-token"));
    sessionStorage.setItem("sy_account", handed.get("account") || "");
    history.replaceState(null, "", "/#/flags");
  }

  let settings = null;
  const offer = async () => {
    const form = document.querySelector("#main form #password")?.form;
    if (!form || document.getElementById("sso")) return;
    settings = settings || await fetch("/api/v1/auth/oidc").then((r) => r.json()).catch(() => ({}));
    if (!settings.sso || document.getElementById("sso")) return;
    const link = document.createElement("a");
    link.id = "sso";
    link.className = "button primary";
    link.href = "/api/v1/auth/oidc/start";
    link.textContent = "Sign in with SSO";
    const row = document.createElement("p");
    row.append(link);
    form.before(row);
    if (settings.local_passwords === false) form.hidden = true;
  };

  window.addEventListener("DOMContentLoaded", () => {
    const main = document.getElementById("main");
    if (!main) return;
    new MutationObserver(offer).observe(main, { childList: true, subtree: true });
    offer();
    // Capture phase: runs before app.js forgets the token.
    document.getElementById("signout")?.addEventListener("click", () => {
      const token = sessionStorage.getItem("sy_token");
      if (!token) return;
      const headers = { authorization: `Bearer ${token}` };
      fetch("/api/v1/me", { headers })
        .then((r) => (r.ok ? r.json() : null))
        .then((me) => me && fetch(`/api/v1/tokens/${encodeURIComponent(me.token)}`, { method: "DELETE", headers, keepalive: true }))
        .catch(() => {});
    }, true);
  });
})();
