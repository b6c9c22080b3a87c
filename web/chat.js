// The chat page: Rasa's socket.io protocol (session_request/session_confirm, user_uttered,
// bot_uttered) on socket.io-client, served with this page by the bot itself.
"use strict";

const STORAGE_KEY = "upper-back-chat";
const GREETING = "/greet";
// The server acknowledges a message once its turn is answered, within its reply deadline
// (4.5 s); past this, the message counts as not sent.
const ACK_TIMEOUT_MS = 15000;
const NOT_SENT = "Not sent – tap to retry";
// "Helpful? 👍 👎" under each health answer; a 👎 asks what was wrong (optional).
const RATINGS = [["up", "Helpful", "👍"], ["down", "Not helpful", "👎"]];
const REASONS = [["wrong_topic", "Wrong topic"], ["no_answer", "Didn't answer"],
  ["hard_to_read", "Hard to read"], ["other", "Other"]];

const $ = (id) => document.getElementById(id);
const log = $("log");
const input = $("message");
const form = $("composer");
const maxChars = Number(form.dataset.maxChars);

// What the page remembers across reloads: the session and what was said in it.
let state = load();
let ready = false; // connected, and this connection's session confirmed
// Messages sent and not yet known to have arrived, oldest first.
let pending = [];

function load() {
  try {
    const stored = JSON.parse(localStorage.getItem(STORAGE_KEY));
    if (stored && Array.isArray(stored.messages)) {
      // A message still on its way when the page closed may never have arrived.
      for (const m of stored.messages) if (m.status === "sending") m.status = "failed";
      return stored;
    }
  } catch (_) { /* unreadable: start afresh */ }
  return { session_id: null, messages: [] };
}

// The browser's language and time zone pick the local emergency number on the server.
function clientMetadata() {
  const metadata = { locale: navigator.language };
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) metadata.time_zone = zone;
  return metadata;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function speaker(name) {
  return element("span", "visually-hidden", `${name}: `);
}

function callLink(number, where, className) {
  const link = element("a", className);
  link.href = `tel:${number}`;
  link.append(element("span", "call-number", `Call ${number}`),
    element("span", "call-where", `Emergency number in ${where}`));
  return link;
}

function emergencyActions(emergency) {
  const box = element("div", "emergency-actions");
  if (emergency.local) {
    box.append(callLink(emergency.local.number, emergency.local.where, "call"));
  }
  if (emergency.others.length) {
    box.append(element("p", "others-title",
      emergency.local ? "Other emergency numbers:" : "Emergency numbers:"));
    const list = element("ul", "others");
    for (const other of emergency.others) {
      const item = element("li");
      item.append(callLink(other.number, other.where, emergency.local ? "call-other" : "call"));
      list.append(item);
    }
    box.append(list);
  }
  return box;
}

function renderBot(message, live) {
  const metadata = message.metadata || {};
  const wrapper = element("div", "msg bot");
  const bubble = element("div", "bubble");
  bubble.append(speaker("Assistant"), message.text || "");
  wrapper.append(bubble);
  if (metadata.emergency) {
    wrapper.classList.add("emergency");
    // Announced at once when it arrives; a restored one is not re-announced.
    if (live) wrapper.setAttribute("role", "alert");
    bubble.prepend(element("span", "emergency-label", "Emergency"));
    bubble.append(emergencyActions(metadata.emergency));
  }
  if (metadata.sources && metadata.sources.length) {
    wrapper.append(element("p", "source", `From the article: ${metadata.sources.join(" · ")}`));
    wrapper.append(feedbackControls(message));
  }
  return wrapper;
}

function choice(label, text, onClick) {
  const button = element("button", "feedback-choice", text);
  button.type = "button";
  if (label) button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

// The rating is stored with the conversation; it never changes what the bot says.
function rate(message, rating, reason, group) {
  const packet = { session_id: state.session_id, rating, answer: message.text };
  if (reason) packet.reason = reason;
  if (ready) socket.timeout(ACK_TIMEOUT_MS).emit("feedback", packet, () => {});
  message.feedback = { rating, reason };
  persist();
  const next = feedbackControls(message);
  group.replaceWith(next);
  (next.querySelector("button") || next).focus();
}

function feedbackControls(message) {
  const group = element("div", "feedback");
  group.setAttribute("role", "group");
  group.tabIndex = -1;
  const given = message.feedback;
  if (!given) {
    group.setAttribute("aria-label", "Was this answer helpful?");
    group.append(element("span", "feedback-question", "Helpful?"));
    for (const [rating, label, emoji] of RATINGS) {
      group.append(choice(label, emoji, () => rate(message, rating, null, group)));
    }
  } else if (given.rating === "down" && !given.reason) {
    group.setAttribute("aria-label", "What was wrong? (optional)");
    group.append(element("span", "feedback-question", "Thanks. What was wrong? (optional)"));
    for (const [reason, label] of REASONS) {
      group.append(choice(null, label, () => rate(message, "down", reason, group)));
    }
  } else {
    group.setAttribute("aria-label", "Feedback");
    group.append(element("span", "feedback-question", "Thanks for telling us."));
  }
  return group;
}

function renderUser(message) {
  const wrapper = element("div", "msg user");
  const bubble = element("div", "bubble");
  bubble.append(speaker("You"), message.text);
  wrapper.append(bubble);
  if (message.status === "failed") {
    const retry = element("button", "retry",
      message.reason ? `Not sent: ${message.reason} Tap to retry.` : NOT_SENT);
    retry.type = "button";
    retry.addEventListener("click", () => deliver(message));
    wrapper.append(retry);
    wrapper.classList.add("failed");
  }
  message.node = wrapper;
  return wrapper;
}

function renderQuickReplies(replies) {
  const group = element("div", "quick-replies");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", "Suggested questions");
  for (const reply of replies) {
    const button = element("button", "quick-reply", reply.title);
    button.type = "button";
    button.addEventListener("click", () => {
      group.remove();
      say(reply.title, reply.payload);
    });
    group.append(button);
  }
  return group;
}

function render(message, live) {
  return message.from === "bot" ? renderBot(message, live) : renderUser(message);
}

// Only the newest reply's suggestions can be chosen: older ones are out of date.
function showQuickReplies() {
  for (const old of log.querySelectorAll(".quick-replies")) old.remove();
  const last = state.messages[state.messages.length - 1];
  if (last && last.from === "bot" && last.quick_replies && last.quick_replies.length) {
    log.append(renderQuickReplies(last.quick_replies));
  }
}

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
}

function updateChatting() {
  document.body.classList.toggle("chatting", state.messages.some((m) => m.from === "user"));
}

function replaceNode(message) {
  const old = message.node;
  old.replaceWith(render(message, true));
}

function withoutNode(message) {
  // The DOM node is not stored.
  const { node, ...rest } = message;
  return rest;
}

function persist() {
  localStorage.setItem(STORAGE_KEY, JSON.stringify({
    session_id: state.session_id,
    messages: state.messages.map(withoutNode),
  }));
}

function setTyping() {
  $("typing").hidden = pending.length === 0;
}

function settle(entry, outcome) {
  pending = pending.filter((other) => other !== entry);
  setTyping();
  entry.done(outcome);
}

function markFailed(message, reason) {
  message.status = "failed";
  message.reason = reason || "";
  replaceNode(message);
  persist();
}

// Sends a message the page has shown; it is marked "Not sent" unless the server takes it.
function deliver(message) {
  if (!ready) {
    markFailed(message);
    $("input-status").textContent = "No connection yet: your message was not sent.";
    return;
  }
  message.status = "sending";
  message.reason = "";
  replaceNode(message);
  persist();
  send(message.payload, (outcome) => {
    if (outcome.ok) {
      message.status = "sent";
      replaceNode(message);
      persist();
    } else {
      markFailed(message, outcome.reason);
    }
  });
}

function send(payload, done) {
  const entry = { done };
  pending.push(entry);
  setTyping();
  const packet = { message: payload, customData: clientMetadata(), session_id: state.session_id };
  socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", packet, (error, ack) => {
    if (!pending.includes(entry)) return; // already settled by its reply or a disconnect
    if (error) settle(entry, { ok: false });
    else if (ack && ack.rejected) settle(entry, { ok: false, reason: ack.rejected });
    else settle(entry, { ok: true });
  });
}

function say(text, payload) {
  const message = { from: "user", text, payload: payload || text, status: "sending" };
  state.messages.push(message);
  for (const old of log.querySelectorAll(".quick-replies")) old.remove();
  log.append(render(message, true));
  updateChatting();
  scrollToEnd();
  deliver(message);
}

// The input: a counter against the server's limit, and the reason when it can't send.
function characters(text) {
  return [...text].length; // code points, as the server counts them
}

function updateCounter() {
  const count = characters(input.value);
  const over = count - maxChars;
  $("counter").textContent = over > 0
    ? `${count} / ${maxChars}: ${over} too many`
    : `${count} / ${maxChars}`;
  $("counter").classList.toggle("over", over > 0);
  input.setAttribute("aria-invalid", String(over > 0));
  $("send").setAttribute("aria-disabled", String(over > 0));
  if (over <= 0) $("input-status").textContent = "";
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  const over = characters(input.value) - maxChars;
  if (over > 0) {
    $("input-status").textContent =
      `This message is ${over} characters too long. Please shorten it to ${maxChars} or fewer.`;
    input.focus();
    return;
  }
  if (!text) return;
  input.value = "";
  updateCounter();
  say(text);
  input.focus();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});
input.addEventListener("input", updateCounter);

// Start over asks first, in a modal dialog (focus moves into it; Escape keeps the chat).
const dialog = $("confirm-restart");
$("restart").addEventListener("click", () => dialog.showModal());
dialog.addEventListener("close", () => {
  if (dialog.returnValue !== "restart") return;
  state = { session_id: null, messages: [] };
  persist();
  log.replaceChildren();
  updateChatting();
  if (ready) {
    ready = false;
    socket.emit("session_request", { session_id: null });
  }
  input.focus();
});

// The connection: a banner while it is down; messages are never queued out of sight.
function banner(text) {
  $("connection").textContent = text;
}

// WebSocket only: a socket.io session lives in one Rasa process, and with several Sanic
// workers long-polling requests would land on any of them; one WebSocket stays with one.
const socket = io({ path: "/socket.io/", transports: ["websocket"], reconnectionDelayMax: 3000 });

socket.on("connect", () => {
  socket.emit("session_request", { session_id: state.session_id });
});

socket.on("session_confirm", (sessionId) => {
  ready = true;
  banner("");
  if (sessionId !== state.session_id) {
    state.session_id = sessionId;
    persist();
  }
  if (state.messages.length === 0) {
    send(GREETING, () => {});
  }
});

socket.on("bot_uttered", (data) => {
  // A conversation's turns run in order: a reply means its oldest message arrived, even if
  // a slow turn's acknowledgement is still to come.
  if (pending.length) settle(pending[0], { ok: true });
  const message = {
    from: "bot",
    text: data.text,
    quick_replies: data.quick_replies,
    metadata: data.metadata,
  };
  state.messages.push(message);
  persist();
  log.append(render(message, true));
  showQuickReplies();
  scrollToEnd();
});

const RECONNECTING = "Connection lost. Reconnecting… Messages can't be sent until it is " +
  "back. In an emergency, call your local emergency number.";
socket.on("disconnect", () => {
  ready = false;
  // Their acknowledgements can no longer come: say so now, not after the timeout.
  for (const entry of [...pending]) settle(entry, { ok: false });
  banner(RECONNECTING);
});
socket.on("connect_error", () => banner(RECONNECTING));

socket.io.on("reconnect_failed", () => banner("Can't reach the assistant. Please reload the page."));

// The browser knows it is offline before the socket does: drop the connection at once, so
// the banner shows and nothing is sent into the void; socket.io reconnects once online.
window.addEventListener("offline", () => socket.io.engine && socket.io.engine.close());
window.addEventListener("online", () => { if (!socket.connected) socket.connect(); });

for (const message of state.messages) log.append(render(message, false));
showQuickReplies();
updateChatting();
updateCounter();
scrollToEnd();
