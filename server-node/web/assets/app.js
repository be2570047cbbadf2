// The fleet administration page: a small router over five views (status, machines, users,
// backups, settings), each drawn from the JSON API under /api/v1 (docs/admin-api.md).
// Every text from the server goes in with textContent, never as HTML: a device's product,
// location or error message cannot inject markup. The status and machines views poll the
// API, so a machine going online, syncing or being refused shows without a reload.
"use strict";
(function () {
  const view = document.getElementById("view");
  let csrf = "";
  let features = { join_code: false, pending_machines: false, poll_ms: 2000 };
  let timer = null;
  let currentPage = "";
  let joinPanel = null;
  let background = false;  // set while a poll runs

  // ---- helpers ------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      // Through the CSSOM: the page's Content-Security-Policy forbids style attributes.
      else if (k === "style") el.style.cssText = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const fmtNum = (n) => Number(n || 0).toLocaleString("en-US");
  function ago(ms) {
    if (!ms) return "never";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  function since(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }
  function clusterCard(s) {
    // A raft cluster member reports its view; a single server has none.
    const c = s.cluster;
    if (c && typeof c === "object") {
      return card("Cluster", String(c.state || "—"),
        c.members ? `${c.members.length} servers · leader ${c.leader_id || "?"}` : "");
    }
    return card("Cluster", "None", "A single server.");
  }
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : "");
  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }
  function toast(text, bad) {
    const t = document.getElementById("toast");
    t.textContent = text;
    t.className = bad ? "toast bad" : "toast";
    t.hidden = false;
    clearTimeout(toast.t);
    toast.t = setTimeout(() => { t.hidden = true; }, 4000);
  }
  function confirmAction(title, text, okLabel) {
    const d = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
      d.showModal();
    });
  }

  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: {} };
    // The page's own refreshes do not keep the session alive: only the administrator does.
    if (background) opts.headers["X-Pdsync-Poll"] = "1";
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    const res = await fetch(`/api/v1${path}`, opts);
    if (res.status === 401) {
      window.location.replace("/login");
      throw new Error("signed out");
    }
    const data = await res.json().catch(() => ({ ok: false, message: `HTTP ${res.status}` }));
    data.httpStatus = res.status;
    return data;
  }
  function setLive(ok) { document.getElementById("live").classList.toggle("stale", !ok); }
  function poll(fn) {
    clearInterval(timer);
    timer = setInterval(async () => {
      background = true;
      try { await fn(); setLive(true); } catch (e) { setLive(false); } finally { background = false; }
    }, features.poll_ms || 2000);
  }
  function page(title, subtitle, ...right) {
    return h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, title), subtitle ? h("div", { class: "muted" }, subtitle) : null),
      h("div", { class: "toolbar" }, ...right));
  }
  function card(label, value, hint, extra) {
    return h("div", { class: "panel card" }, h("div", { class: "label" }, label),
      h("div", { class: "value" }, value), hint ? h("div", { class: "hint" }, hint) : null, extra || null);
  }
  function meter(n, limit) {
    const pct = limit ? Math.min(100, (100 * n) / limit) : 0;
    return h("div", { class: pct > 90 ? "meter high" : "meter" }, h("span", { style: `width:${pct}%` }));
  }
  const td = (label, ...c) => h("td", { "data-label": label }, ...c);
  const online = (m) => m.online ? h("span", { class: "pill ok" }, "online") : h("span", { class: "pill off" }, "offline");

  // ---- status -------------------------------------------------------------------------------
  async function showStatus() {
    const s = await api("GET", "/status");
    if (currentPage !== "status") return;
    const machines = s.machines || [];
    const onlineCount = machines.filter((m) => m.online).length;
    const lb = s.last_backup;
    const role = s.role || "primary";
    const grid = h("div", { class: "grid" },
      card("Server", role === "primary" ? "Primary" : role, `${s.server_id || ""} · up ${since(s.started_at)}`),
      card("May sleep", s.may_sleep ? "Yes" : "No",
        s.may_sleep ? "No machine is online." : `${onlineCount} machine${onlineCount === 1 ? " is" : "s are"} online.`),
      card("Users", h("span", { id: "users-count" }, fmtNum(s.users), h("small", {}, ` / ${fmtNum(s.user_limit)}`)),
        "The least recently used user is removed past the limit.", meter(s.users, s.user_limit)),
      card("Machines", h("span", { id: "machines-count" }, fmtNum(s.machine_count), h("small", {}, ` / ${fmtNum(s.machine_limit)}`)),
        "The server machine counts as one.", meter(s.machine_count, s.machine_limit)),
      card("Last backup", lb ? (lb.ok ? h("span", { class: "pill ok" }, "succeeded") : h("span", { class: "pill bad" }, "failed")) : "None yet",
        lb ? `${ago(lb.at)}${lb.ok ? "" : ` · ${lb.message || lb.error || ""}`}` : "Back up from the Backups page."),
      clusterCard(s));
    const rows = machines.map((m) => h("tr", { "data-device": m.device_id },
      td("Machine", h("strong", {}, m.device_id), m.server_machine ? h("span", { class: "muted small" }, " (this server)") : null),
      td("Status", online(m)),
      td("Last sync", h("span", { class: "last-sync", "data-at": m.last_sync_at || 0, title: when(m.last_sync_at) }, ago(m.last_sync_at))),
      td("Pending", h("span", { class: "num" }, fmtNum(m.pending)))));
    const body = [page("Status", "The fleet at a glance; this page updates by itself."), grid];
    // Kept across the page's refreshes, so a code shown on request stays shown.
    if (features.join_code) body.push(joinPanel || (joinPanel = joinCodePanel()));
    body.push(h("div", { class: "panel" }, h("h2", {}, "Machines"),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "stack" },
        h("thead", {}, h("tr", {}, h("th", {}, "Machine"), h("th", {}, "Status"), h("th", {}, "Last sync"), h("th", {}, "Pending"))),
        h("tbody", {}, rows))) : h("p", { class: "empty" }, "No machine has joined yet."),
      refusedList(s.refused)));
    view.replaceChildren(...body);
  }
  function joinCodePanel() {
    const out = h("div", { id: "join-code-value" });
    const reveal = async () => {
      const r = await api("GET", "/join-code");
      if (!r.ok) return toast(r.message || "The join code is not available.", true);
      out.replaceChildren(h("div", { class: "secret", id: "join-code" }, r.join_code || r.code || ""),
        h("div", { class: "muted small" }, "Enable a device with: pdsync device enable --server HOST --join-code CODE"));
    };
    const rotate = async () => {
      if (!(await confirmAction("Rotate the join code?", "Devices already joined keep working; the old code stops working for new devices.", "Rotate"))) return;
      const r = await api("POST", "/join-code/rotate");
      if (!r.ok) return toast(r.message || "Rotation failed.", true);
      toast("The join code was rotated.");
      await reveal();
    };
    return h("div", { class: "panel", id: "join-code-panel" }, h("h2", {}, "Join code"),
      h("p", { class: "muted" }, "New devices join the fleet with this code. It is shown only when you ask."),
      out, h("div", { class: "toolbar" },
        h("button", { class: "btn", id: "show-join-code", type: "button", onclick: reveal }, "Show join code"),
        h("button", { class: "btn btn-danger", id: "rotate-join-code", type: "button", onclick: rotate }, "Rotate")));
  }
  function refusedList(refused) {
    const entries = Object.entries(refused || {});
    if (!entries.length) return null;
    return h("div", { id: "refused" }, h("h2", { class: "section-gap" }, "Refused machines"),
      h("table", { class: "stack" }, h("thead", {}, h("tr", {}, h("th", {}, "Machine"), h("th", {}, "Reason"))),
        h("tbody", {}, entries.map(([id, why]) => h("tr", { "data-refused": id },
          td("Machine", h("strong", {}, id)), td("Reason", h("span", { class: "error-text" }, why)))))));
  }

  // ---- machines -----------------------------------------------------------------------------
  async function showMachines() {
    const m = await api("GET", "/machines");
    if (currentPage !== "machines") return;
    const remove = async (id) => {
      if (!(await confirmAction(`Remove ${id}?`, "Its slot is freed at once. If it comes back, it is refused until it joins again.", "Remove"))) return;
      const r = await api("POST", "/machines/remove", { device_id: id });
      if (r.ok) { toast(`${id} was removed.`); showMachines(); } else toast(r.message || "Removal failed.", true);
    };
    const rows = (m.machines || []).map((d) => h("tr", { "data-device": d.device_id },
      td("Machine", h("strong", {}, d.device_id), d.server_machine ? h("div", { class: "muted small" }, "this server") : null),
      td("Status", online(d)),
      td("Product", d.product || "—"), td("Firmware", d.firmware || "—"), td("Location", d.location || "—"),
      td("Last sync", h("span", { class: "last-sync", "data-at": d.last_sync_at || 0, title: when(d.last_sync_at) }, ago(d.last_sync_at))),
      td("Pending", h("span", { class: "num pending" }, fmtNum(d.pending))),
      td("Not synced", (d.not_synced || []).length ? (d.not_synced || []).map((c) => h("span", { class: "chip" }, c)) : "—"),
      td("Last error", d.last_error ? h("span", { class: "error-text" }, d.last_error) : "—"),
      h("td", { class: "actions" }, d.server_machine ? null :
        h("button", { class: "btn btn-danger btn-small remove", type: "button", onclick: () => remove(d.device_id) }, "Remove"))));
    const body = [page("Machines", `${fmtNum(m.machine_count)} of ${fmtNum(m.machine_limit)} machines, the server included.`),
      h("div", { class: "panel" }, rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "stack", id: "machines-table" },
        h("thead", {}, h("tr", {}, ["Machine", "Status", "Product", "Firmware", "Location", "Last sync", "Pending", "Not synced", "Last error", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))) : h("p", { class: "empty" }, "No machine has joined yet."))];
    if (features.pending_machines) body.push(pendingPanel(m.pending || []));
    const refused = refusedList(m.refused);
    if (refused) body.push(h("div", { class: "panel" }, refused));
    view.replaceChildren(...body);
  }
  function pendingPanel(pending) {
    const act = async (id, what) => {
      const r = await api("POST", `/machines/${what}`, { device_id: id });
      if (r.ok) { toast(`${id}: ${what === "approve" ? "approved" : "denied"}.`); showMachines(); } else toast(r.message || "Failed.", true);
    };
    return h("div", { class: "panel", id: "pending" }, h("h2", {}, "Waiting for approval"),
      pending.length ? h("table", { class: "stack" }, h("thead", {}, h("tr", {}, h("th", {}, "Machine"), h("th", {}, "Product"), h("th", {}, "Asked"), h("th", {}, ""))),
        h("tbody", {}, pending.map((p) => h("tr", { "data-pending": p.device_id },
          td("Machine", h("strong", {}, p.device_id)), td("Product", p.product || "—"), td("Asked", ago(p.requested_at || p.at)),
          h("td", { class: "actions" }, h("button", { class: "btn btn-primary btn-small", type: "button", onclick: () => act(p.device_id, "approve") }, "Approve"), " ",
            h("button", { class: "btn btn-danger btn-small", type: "button", onclick: () => act(p.device_id, "deny") }, "Deny"))))))
        : h("p", { class: "empty" }, "No machine is waiting."));
  }

  // ---- users --------------------------------------------------------------------------------
  const usersState = { prefix: "", cursors: [""], selected: "" };
  async function showUsers() {
    const st = usersState;
    const after = st.cursors[st.cursors.length - 1];
    const q = new URLSearchParams({ prefix: st.prefix, after, limit: "50" });
    const r = await api("GET", `/users?${q}`);
    if (currentPage !== "users") return;
    const search = h("input", { type: "search", id: "user-search", placeholder: "Find users whose name starts with…", value: st.prefix, "aria-label": "Search users" });
    let debounce = null;
    search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { st.prefix = search.value; st.cursors = [""]; showUsers().then(() => {
        const s = document.getElementById("user-search"); s.focus(); s.setSelectionRange(s.value.length, s.value.length); }); }, 250);
    });
    const first = (st.cursors.length - 1) * 50;
    const users = r.users || [];
    const rows = users.map((u) => h("tr", { "data-user": u.user },
      td("User", h("a", { href: "#/users", class: "user-link", onclick: (e) => { e.preventDefault(); st.selected = u.user; showUser(u.user); } }, u.user)),
      td("Last used", h("span", { title: when(u.last_used_at) }, ago(u.last_used_at))),
      td("Documents", Object.keys(u.documents || {}).length ? Object.entries(u.documents).map(([c, v]) => h("span", { class: "chip" }, `${c} v${v}`)) : "—")));
    view.replaceChildren(
      page("Users", `${fmtNum(r.count)} of ${fmtNum(r.limit)} users are stored.`),
      h("div", { class: "panel" }, h("div", { class: "toolbar" }, search),
        users.length ? h("div", { class: "table-wrap" }, h("table", { class: "stack", id: "users-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", {}, "Last used"), h("th", {}, "Documents (version)"))),
          h("tbody", {}, rows))) : h("p", { class: "empty" }, st.prefix ? "No user starts with that." : "No user yet."),
        h("div", { class: "pager" },
          h("span", { class: "muted", id: "users-range" }, users.length ? `${fmtNum(first + 1)}–${fmtNum(first + users.length)} of ${fmtNum(r.matching)}` : ""),
          h("div", { class: "toolbar" },
            h("button", { class: "btn", id: "users-prev", type: "button", disabled: st.cursors.length <= 1,
              onclick: () => { st.cursors.pop(); showUsers(); } }, "‹ Previous"),
            h("button", { class: "btn", id: "users-next", type: "button", disabled: !r.next_after,
              onclick: () => { st.cursors.push(r.next_after); showUsers(); } }, "Next ›")))),
      h("div", { id: "user-detail" }));
    if (st.selected) showUser(st.selected);
  }
  async function showUser(user) {
    const r = await api("GET", `/users/show?${new URLSearchParams({ user })}`);
    const box = document.getElementById("user-detail");
    if (!box) return;
    if (!r.ok) { usersState.selected = ""; box.replaceChildren(); return; }
    const del = async (category) => {
      const what = category ? `${user}'s ${category}` : `${user} and all their documents`;
      if (!(await confirmAction(`Delete ${what}?`, "It is deleted on the server and on every machine's cached copy. This cannot be undone.", "Delete"))) return;
      const res = await api("POST", "/users/delete", category ? { user, category } : { user });
      if (res.ok) { toast(`Deleted ${what}.`); if (!category) usersState.selected = ""; showUsers(); } else toast(res.message || "Delete failed.", true);
    };
    const docs = r.documents || [];
    const pick = h("select", { id: "delete-category", "aria-label": "Category" }, docs.map((d) => h("option", { value: d.category }, d.category)));
    box.replaceChildren(h("div", { class: "panel", id: "user-panel" },
      h("div", { class: "page-head" }, h("div", {}, h("h2", {}, user),
        h("div", { class: "muted small" }, `Last used ${ago(r.last_used_at)} · first seen ${when(r.created_at)}`)),
        h("div", { class: "toolbar" },
          docs.length ? pick : null,
          docs.length ? h("button", { class: "btn", type: "button", id: "delete-category-btn", onclick: () => del(pick.value) }, "Delete category") : null,
          h("button", { class: "btn btn-danger", type: "button", id: "delete-user", onclick: () => del("") }, "Delete user"))),
      docs.length ? docs.map((d) => [h("h2", {}, `${d.category} `, h("span", { class: "muted small" }, `version ${d.version} · ${(d.entries || []).length} entries · ${ago(d.updated_at)}`)),
        h("pre", { class: "doc" }, JSON.stringify(d.entries || [], null, 2))]) : h("p", { class: "empty" }, "The server holds no document for this user.")));
  }

  // ---- backups ------------------------------------------------------------------------------
  async function showBackups() {
    const r = await api("GET", "/backups");
    if (currentPage !== "backups") return;
    const sched = r.schedule || {};
    const job = r.job || {};
    const label = h("input", { type: "text", id: "backup-label", placeholder: "Label (optional)", "aria-label": "Backup label" });
    const start = async () => {
      const res = await api("POST", "/backups", { label: label.value });
      if (res.httpStatus !== 202) return toast(res.message || "The backup did not start.", true);
      showBackups();
    };
    const running = job.state === "running";
    const pct = job.total ? Math.round((100 * job.done) / job.total) : 0;
    const progress = h("div", { class: "panel", id: "backup-progress" }, h("h2", {}, "Back up now"),
      h("div", { class: "toolbar" }, label, h("button", { class: "btn btn-primary", id: "backup-now", type: "button", disabled: running, onclick: start }, running ? "Backing up…" : "Back up now")),
      job.state && job.state !== "idle" ? h("div", {},
        h("div", { class: "progress" }, h("span", { style: `width:${running ? pct : 100}%` })),
        h("div", { class: "muted small", id: "backup-state" }, running ? `Copying the store: ${pct}% (${fmtNum(job.done)} of ${fmtNum(job.total)} pages)`
          : job.state === "done" ? `Done: ${(job.result || {}).id || ""}, ${ago(job.finished_at)}.` : `Failed: ${(job.result || {}).message || ""}`)) : null);
    const list = r.backups;
    const rows = (list || []).slice().reverse().map((b) => h("tr", { "data-backup": b.id },
      td("Backup", h("span", { class: "mono" }, b.id)), td("Taken", h("span", { title: when(b.created_at) }, when(b.created_at))),
      td("Label", b.label || "—"), td("Size", bytes(b.size || 0)), td("SHA-256", h("span", { class: "mono", title: b.sha256 }, (b.sha256 || "").slice(0, 12)))));
    view.replaceChildren(
      page("Backups", r.target ? `Target: ${r.target}` : "Consistent online copies of the server's store."),
      h("div", { class: "grid" },
        card("Schedule", sched.interval_s ? `every ${sched.interval_s >= 3600 ? `${Math.round(sched.interval_s / 3600)} h` : `${sched.interval_s} s`}` : "off", sched.target ? `to ${sched.target}` : "No backup target is configured."),
        card("Retention", sched.keep ? `${sched.keep} kept` : "—", "Older backups are removed after each new one.")),
      progress,
      h("div", { class: "panel" }, h("h2", {}, "Backups on the target"),
        list === null ? h("p", { class: "empty" }, "The list comes back when the backup is done.") :
          rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "stack", id: "backups-table" },
            h("thead", {}, h("tr", {}, ["Backup", "Taken", "Label", "Size", "SHA-256"].map((t) => h("th", {}, t)))), h("tbody", {}, rows)))
            : h("p", { class: "empty" }, r.list_error || "No backup yet.")),
      h("div", { class: "panel" }, h("h2", {}, "How to restore"),
        h("ol", { class: "steps" },
          h("li", {}, "On the server machine, stop the server and restore in one step: ", h("code", {}, "pdsync backup restore ID --config /etc/pdsync/pdsync-server.conf --stop")),
          h("li", {}, "Start the server again; every machine receives the restored documents."),
          h("li", {}, "To move to new hardware, run the same restore there with the new store path, then start the server on it."))));
    if (running) poll(showBackups); else clearInterval(timer);
  }

  // ---- settings -----------------------------------------------------------------------------
  async function showSettings() {
    const s = await api("GET", "/settings");
    if (currentPage !== "settings") return;
    const dl = (pairs) => h("dl", { class: "props" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" || v === undefined ? "—" : v)]));
    const broker = s.broker || {};
    const web = s.web || {};
    const backup = s.backup || {};
    view.replaceChildren(page("Settings", "Read-only: change them in the server's configuration file and restart it."),
      h("div", { class: "panel" }, h("h2", {}, "Synchronization"), dl([
        ["Server", s.server_id], ["Server machine's device", s.server_device_id],
        ["Categories synchronized", (s.categories || []).map((c) => h("span", { class: "chip" }, c))],
        ["Machine limit", fmtNum(s.machine_limit)], ["User limit", fmtNum(s.user_limit)],
        ["JSON inspection view", s.inspect_view ? "on" : "off"]])),
      h("div", { class: "panel" }, h("h2", {}, "Broker and TLS"), dl([
        ["Broker", (broker.servers || []).join(", ")], ["Account", broker.username],
        ["TLS to the broker", broker.tls ? `yes (CA ${broker.ca_file})` : "no (loopback listener)"],
        ["Client certificate", broker.client_certificate ? "yes" : "no"],
        ["Web page", web.enabled ? `${web.https ? "https" : "http"}://${web.listen}` : "off"],
        ["Web certificate", web.certificate || (web.https ? "" : "none (loopback only)")]])),
      h("div", { class: "panel" }, h("h2", {}, "Backups"), dl([
        ["Target", backup.target], ["Every", backup.interval_s ? `${backup.interval_s} s` : "off"], ["Kept", fmtNum(backup.keep)]])));
  }

  // ---- router -------------------------------------------------------------------------------
  const pages = { status: showStatus, machines: showMachines, users: showUsers, backups: showBackups, settings: showSettings };
  async function route() {
    const name = (location.hash.replace(/^#\//, "") || "status").split("?")[0];
    const show = pages[name] || showStatus;
    currentPage = pages[name] ? name : "status";
    document.querySelectorAll(".nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === currentPage));
    clearInterval(timer);
    joinPanel = null;
    view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try { await show(); setLive(true); } catch (e) { setLive(false); }
    if (currentPage === "status" || currentPage === "machines") poll(show);
    document.body.dataset.page = currentPage;
  }
  async function start() {
    const s = await api("GET", "/session");
    csrf = s.csrf;
    const f = await api("GET", "/features");
    if (f.ok) features = f;
    document.getElementById("logout").addEventListener("click", async () => {
      await api("POST", "/logout");
      window.location.replace("/login");
    });
    window.addEventListener("hashchange", route);
    await route();
  }
  start();
})();
