// Telegram Bot API emulator for tests/test_telegram.py (npm package telegram-test-api).
// Usage: node tests/telegram_emulator.js PORT WEBHOOK_LOG
// Two changes to the package: each setWebhook call is also appended to WEBHOOK_LOG (one
// JSON line), which the package keeps to itself, so tests can check what the bot
// registered; and sent messages carry Telegram's date in seconds, not milliseconds.
const fs = require('fs');
const TelegramServer = require('telegram-test-api');

const [port, webhookLog] = process.argv.slice(2);

class RecordingServer extends TelegramServer {
  setWebhook(webhook, botToken) {
    super.setWebhook(webhook, botToken);
    fs.appendFileSync(webhookLog, `${JSON.stringify({ botToken, ...webhook })}\n`);
  }

  addBotMessage(rawMessage, botToken) {
    const sent = super.addBotMessage(rawMessage, botToken);
    return { ...sent, date: Math.floor(sent.date / 1000) };
  }
}

// Keep the bot's messages until the tests read them, however long a run takes.
const server = new RecordingServer({ port: Number(port), host: '127.0.0.1', storeTimeout: 3600 });
server.start().then(() => console.log(`Telegram Bot API emulator on ${server.config.apiURL}`));
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
