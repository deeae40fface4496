// Drive a runtime with fbp-client, the schema-checking client noflo-ui uses.
//
// usage: node fbp_client_session.js ADDRESS SCRIPT.json
//
// SCRIPT is {"secret": "...", "steps": [...]}, each step one of:
//   {"send": [protocol, command, payload]}   a request; its reply (or error) is kept
//   {"until": [protocol, command], "id": "edge id"?, "timeout": ms}
//                                            wait for a signal (optionally a data
//                                            event on one edge) since the start
//   {"wait": ms}                             sleep
// Prints one line of JSON: {replies, signals, protocolErrors, failure}. Every message
// the runtime sends is validated by fbp-client against fbp-protocol's schemas; a
// message that fails lands in protocolErrors (or fails the request it answers).
const fs = require('fs');
const fbpClient = require('fbp-client');

const [address, scriptPath] = process.argv.slice(2);
const script = JSON.parse(fs.readFileSync(scriptPath, 'utf-8'));
const born = Date.now();
const out = {
  replies: [], signals: [], protocolErrors: [], failure: null,
};
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function matches(signal, step) {
  if (`${signal.protocol}:${signal.command}` !== step.until.join(':')) {
    return false;
  }
  return !step.id || (signal.payload && signal.payload.id === step.id);
}

async function untilSignal(step) {
  const deadline = Date.now() + (step.timeout || 10000);
  while (Date.now() < deadline) {
    if (out.signals.some((s) => matches(s, step))) {
      return;
    }
    await sleep(10); // eslint-disable-line no-await-in-loop
  }
  throw new Error(`timed out waiting for ${step.until.join(':')} ${step.id || ''}`);
}

async function main() {
  const client = await fbpClient({
    address, protocol: 'websocket', secret: script.secret || '',
  }, { commandTimeout: 10000, connectionTimeout: 5000 });
  client.on('signal', (s) => out.signals.push(s));
  client.on('protocolError', (e) => out.protocolErrors.push(e.message));
  await client.connect();
  const start = Date.now();
  out.connect_ms = start - born;
  try {
    for (const step of script.steps) {
      out.replies.push({ step: Object.keys(step)[0], ms: Date.now() - start });
      if (step.send) {
        const [protocol, command, payload] = step.send;
        try {
          // eslint-disable-next-line no-await-in-loop
          const reply = await client.protocol[protocol][command](payload);
          out.replies.push({ command: `${protocol}:${command}`, reply });
        } catch (e) {
          out.replies.push({ command: `${protocol}:${command}`, error: e.message });
        }
      } else if (step.until) {
        await untilSignal(step); // eslint-disable-line no-await-in-loop
      } else if (step.wait) {
        await sleep(step.wait); // eslint-disable-line no-await-in-loop
      }
    }
  } catch (e) {
    out.failure = e.message;
  }
  out.steps_ms = Date.now() - start;
  await client.disconnect();
  out.disconnect_ms = Date.now() - start;
  // The transport keeps timers alive for seconds after a disconnect: exit now.
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

main().catch((e) => {
  out.failure = `${e.message}`;
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(1));
});
