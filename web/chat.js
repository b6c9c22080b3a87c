// Mounts botfront's rasa-webchat (served by the bot itself) and talks to the bot that
// served this page: same origin for the page, the widget and the socket.
"use strict";

// rasa-webchat keeps the conversation (and its session id) under this localStorage key.
const STORED_CONVERSATION = "chat_session";

function showNotice(text) {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.hidden = false;
  setTimeout(() => { notice.hidden = true; }, 6000);
}

window.WebChat.default(
  {
    socketUrl: window.location.origin,
    socketPath: "/socket.io/",
    embedded: true,
    initPayload: "/greet",
    title: "Chat",
    inputTextFieldHint: "Type your question…",
    params: { storage: "local" },
    // A short typing pause: long answers would otherwise wait up to 3 s.
    customMessageDelay: () => 400,
    onSocketEvent: {
      message_rejected: (event) => showNotice(`Message not sent: ${event.reason}.`),
    },
  },
  document.getElementById("chat"),
);

document.getElementById("restart").addEventListener("click", () => {
  window.localStorage.removeItem(STORED_CONVERSATION);
  window.location.reload();
});
