// The login page: posts the password as JSON and goes to the fleet page once signed in.
"use strict";
(function () {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const button = document.getElementById("login-button");
  const show = (text) => { error.textContent = text; error.hidden = !text; };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show("");
    button.disabled = true;
    try {
      const res = await fetch("/api/v1/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ password: document.getElementById("password").value }),
      });
      const body = await res.json().catch(() => ({}));
      if (res.ok) {
        window.location.replace("/");
        return;
      }
      if (res.status === 429) {
        const s = Math.ceil((body.retry_after_ms || 1000) / 1000);
        show(`Too many failed attempts. Wait ${s} s and try again.`);
      } else if (res.status === 401) {
        show("That password is not right.");
        document.getElementById("password").select();
      } else {
        show(body.message || `The server answered ${res.status}.`);
      }
    } catch (e) {
      show("The server cannot be reached.");
    } finally {
      button.disabled = false;
    }
  });
})();
