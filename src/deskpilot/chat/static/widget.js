/* Deskpilot chat widget. Embed with:
 *   <script src="https://desk.example.com/widget.js" data-workspace="acme" async></script>
 * Optional: data-title="Chat with us", data-color="#2f5bea", data-position="left".
 * No dependencies, no cookies: the conversation's signed token lives in localStorage. Everything
 * renders inside a shadow root, so the host page's CSS and ours never meet. */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-workspace]');
  if (!script || window.__deskpilotChat) return;
  window.__deskpilotChat = true;

  var base = script.src.replace(/\/widget\.js(\?.*)?$/, "");
  var api = base + "/api/v1/chat";
  var workspace = script.getAttribute("data-workspace") || "";
  var title = script.getAttribute("data-title") || "Chat with us";
  var color = script.getAttribute("data-color") || "#2f5bea";
  if (!/^#[0-9a-fA-F]{3,8}$/.test(color)) color = "#2f5bea";
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";
  var storeKey = "deskpilot-chat:" + base + ":" + workspace;
  var token = null, source = null, lastId = 0, handedOff = false, open = false;
  try { token = localStorage.getItem(storeKey); } catch (e) { /* storage blocked: no resume */ }

  var CSS = ":host{all:initial}" +
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".launcher{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483000;width:56px;height:56px;" +
    "border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);" +
    "display:flex;align-items:center;justify-content:center}" +
    ".launcher svg{width:26px;height:26px}.launcher:focus-visible,button:focus-visible,textarea:focus-visible," +
    "input:focus-visible,a:focus-visible{outline:3px solid #111;outline-offset:2px}" +
    ".dot{position:absolute;top:6px;right:6px;width:12px;height:12px;border-radius:50%;background:#e5484d;border:2px solid #fff}" +
    ".panel{position:fixed;bottom:88px;" + side + ":20px;z-index:2147483000;width:370px;max-width:calc(100vw - 24px);" +
    "height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1c2024;border-radius:14px;" +
    "box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;font-size:15px;line-height:1.45}" +
    "[hidden],.panel[hidden]{display:none!important}" +
    "header{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}" +
    "h2{font-size:16px;margin:0;flex:1;font-weight:600}" +
    "header button{background:rgba(255,255,255,.18);color:#fff;border:0;border-radius:8px;padding:6px 10px;cursor:pointer;font-size:13px}" +
    ".log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;background:#f7f8fa}" +
    ".msg{max-width:85%;padding:9px 12px;border-radius:12px;background:#fff;border:1px solid #e3e6ea;overflow-wrap:anywhere}" +
    ".msg.customer{align-self:flex-end;background:var(--c);color:#fff;border-color:transparent}" +
    ".msg.customer a{color:#fff}.msg p{margin:0 0 6px}.msg p:last-child,.msg ul:last-child{margin-bottom:0}" +
    ".msg ul,.msg ol{margin:4px 0 6px;padding-left:20px}.msg a{color:var(--c)}.msg pre{white-space:pre-wrap}" +
    ".who{display:block;font-size:12px;color:#60646c;margin-bottom:2px}.msg.customer .who{color:rgba(255,255,255,.85)}" +
    ".streaming{white-space:pre-wrap}.note{font-size:13px;color:#60646c;text-align:center;padding:4px 8px}" +
    "form{display:flex;flex-direction:column;gap:8px;padding:12px;border-top:1px solid #e3e6ea;background:#fff}" +
    "label{font-size:13px;font-weight:600;color:#1c2024}input,textarea{width:100%;font-size:15px;padding:8px 10px;" +
    "border:1px solid #b9bbc6;border-radius:8px;color:#1c2024;background:#fff}textarea{resize:none;min-height:44px}" +
    ".row{display:flex;gap:8px;align-items:flex-end}.row textarea{flex:1}" +
    ".send{background:var(--c);color:#fff;border:0;border-radius:8px;padding:9px 14px;font-size:15px;cursor:pointer}" +
    ".send:disabled{opacity:.6;cursor:default}.error{color:#c62a2f;font-size:13px;margin:0}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "@media (max-width:480px){.panel{left:0;right:0;bottom:0;top:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}}" +
    "@media (prefers-reduced-motion:no-preference){.launcher{transition:transform .15s}.launcher:hover{transform:scale(1.06)}}";

  var host = document.createElement("div");
  host.id = "deskpilot-chat";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style>" +
    '<button class="launcher" type="button" aria-expanded="false" aria-controls="dp-panel" aria-label="Open chat: ' +
    esc(title) + '"><svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg></button>' +
    '<section class="panel" id="dp-panel" role="dialog" aria-labelledby="dp-title" hidden>' +
    '<header><h2 id="dp-title">' + esc(title) + "</h2>" +
    '<button type="button" class="human" hidden>Talk to a person</button>' +
    '<button type="button" class="close" aria-label="Close chat">✕</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-label="Conversation"></div>' +
    '<form class="start" novalidate><p class="note">Ask us anything. Name and email are optional; ' +
    "leave your email if you'd like a reply after you leave.</p>" +
    '<label for="dp-name">Name</label><input id="dp-name" name="name" autocomplete="name" maxlength="200">' +
    '<label for="dp-email">Email</label><input id="dp-email" name="email" type="email" autocomplete="email" maxlength="320">' +
    '<label for="dp-first">Your question</label><textarea id="dp-first" name="message" rows="3" required maxlength="5000"></textarea>' +
    '<p class="error" role="alert" hidden></p><button class="send" type="submit">Start chat</button></form>' +
    '<form class="compose" hidden><label for="dp-text" class="sr">Message</label>' +
    '<div class="row"><textarea id="dp-text" name="body" rows="1" required maxlength="5000" placeholder="Write a message…"></textarea>' +
    '<button class="send" type="submit">Send</button></div><p class="error" role="alert" hidden></p></form></section>';
  host.style.setProperty("--c", color);

  var $ = function (sel) { return root.querySelector(sel); };
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log");
  var startForm = $(".start"), composeForm = $(".compose"), humanBtn = $(".human");

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function call(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers["X-Chat-Token"] = token;
    return fetch(api + path, {
      method: method, headers: headers, credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401 || (r.status === 404 && token && path !== "/conversations")) forget();
        if (!r.ok) throw new Error((data.error && data.error.message) || "Something went wrong.");
        return data;
      });
    });
  }

  function forget() {
    token = null; lastId = 0; handedOff = false;
    if (source) { source.close(); source = null; }
    try { localStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
    log.innerHTML = ""; showForms();
  }

  function showForms() {
    startForm.hidden = !!token; composeForm.hidden = !token; humanBtn.hidden = !token || handedOff;
  }

  var WHO = { customer: "You", ai: "Assistant", agent: "Support team", system: "Support" };
  function bubble(id, author) {
    var el = log.querySelector('[data-id="' + id + '"]');
    if (!el) {
      el = document.createElement("div");
      el.className = "msg " + author;
      el.setAttribute("data-id", id);
      el.innerHTML = '<span class="who">' + WHO[author] + '</span><div class="body"></div>';
      log.appendChild(el);
    }
    return el;
  }

  function show(message) {
    var el = bubble(message.id, message.author);
    // Server-rendered Markdown, sanitized by Deskpilot (nh3), links already absolute.
    el.querySelector(".body").innerHTML = message.html;
    el.querySelectorAll("a").forEach(function (a) { a.target = "_blank"; a.rel = "noopener noreferrer"; });
    lastId = Math.max(lastId, message.id);
    typing(false); scrollDown();
    if (!open && message.author !== "customer" && !launcher.querySelector(".dot")) launcher.insertAdjacentHTML("beforeend", '<span class="dot" aria-hidden="true"></span>');
  }

  function state(s) {
    handedOff = s.handed_off; showForms();
    if (handedOff && !log.querySelector(".handoff")) {
      note("A member of our team will reply here. You can keep writing.", "handoff");
      typing(false);
    }
  }

  function note(text, cls) {
    var p = document.createElement("p");
    p.className = "note " + (cls || ""); p.textContent = text; log.appendChild(p); scrollDown();
  }

  var typingTimer = null;
  function typing(on) {
    var el = log.querySelector(".typing");
    clearTimeout(typingTimer);
    if (!on) { if (el) el.remove(); return; }
    if (!el) { note("Assistant is typing…", "typing"); }
    typingTimer = setTimeout(function () { typing(false); }, 20000);
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function render(conversation) {
    log.innerHTML = "";
    conversation.messages.forEach(show);
    state(conversation.state);
  }

  function connect() {
    if (source || !token || !window.EventSource) return;
    source = new EventSource(api + "/conversation/stream?token=" + encodeURIComponent(token) + "&after=" + lastId);
    source.addEventListener("message", function (e) { show(JSON.parse(e.data)); });
    source.addEventListener("ai_start", function (e) {
      var el = bubble(JSON.parse(e.data).id, "ai");
      el.querySelector(".body").className = "body streaming";
      typing(false);
    });
    source.addEventListener("ai_delta", function (e) {
      var d = JSON.parse(e.data), body = bubble(d.id, "ai").querySelector(".body");
      body.textContent += d.text; scrollDown();
    });
    source.addEventListener("state", function (e) { state(JSON.parse(e.data)); });
    source.addEventListener("end", function () { forget(); });
  }

  function resume() {
    if (!token) { showForms(); return; }
    call("GET", "/conversation").then(function (c) { render(c); connect(); })
      .catch(function () { showForms(); });
  }

  function fail(form, err) {
    var p = form.querySelector(".error"); p.textContent = err.message; p.hidden = false;
  }

  startForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = startForm.elements, btn = startForm.querySelector(".send");
    if (!f.message.value.trim()) { fail(startForm, new Error("Please write your question.")); f.message.focus(); return; }
    btn.disabled = true; startForm.querySelector(".error").hidden = true;
    call("POST", "/conversations", {
      workspace: workspace, message: f.message.value, name: f.name.value || null,
      email: f.email.value || null, page_url: location.href.slice(0, 2000)
    }).then(function (c) {
      token = c.token;
      try { localStorage.setItem(storeKey, token); } catch (err) { /* ignore */ }
      render(c); typing(true); connect(); startForm.reset();
      $("#dp-text").focus();
    }).catch(function (err) { fail(startForm, err); })
      .then(function () { btn.disabled = false; });
  });

  composeForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var area = $("#dp-text"), text = area.value.trim(), btn = composeForm.querySelector(".send");
    if (!text) return;
    btn.disabled = true; composeForm.querySelector(".error").hidden = true;
    call("POST", "/conversation/messages", { body: text }).then(function (m) {
      area.value = ""; show(m); if (!handedOff) typing(true); connect();
    }).catch(function (err) { fail(composeForm, err); })
      .then(function () { btn.disabled = false; area.focus(); });
  });

  $("#dp-text").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); composeForm.requestSubmit(); }
  });

  humanBtn.addEventListener("click", function () {
    humanBtn.disabled = true;
    call("POST", "/conversation/handoff", {}).then(render)
      .catch(function (err) { fail(composeForm, err); })
      .then(function () { humanBtn.disabled = false; });
  });

  function setOpen(value) {
    open = value; panel.hidden = !value;
    launcher.setAttribute("aria-expanded", String(value));
    launcher.setAttribute("aria-label", (value ? "Close chat: " : "Open chat: ") + title);
    if (value) {
      var dot = launcher.querySelector(".dot"); if (dot) dot.remove();
      if (!log.childElementCount) resume();
      var first = token ? $("#dp-text") : $("#dp-name");
      setTimeout(function () { first.focus(); scrollDown(); }, 0);
    } else {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(!open); });
  $(".close").addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });
  showForms();
  (document.body || document.documentElement).appendChild(host);
})();
