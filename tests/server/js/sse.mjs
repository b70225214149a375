// Server-Sent Events as the OpenAI and KServe streaming endpoints write them: events of
// "data: ..." lines, each event ended by a blank line.

// Splits a whole event stream, checking its framing strictly: every event is exactly one
// "data: " line followed by a blank line, and nothing trails the last event.
export function parseSseStrict(text) {
  const events = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf("\n\n");
    if (end < 0) throw new Error(`unterminated SSE event: ${JSON.stringify(rest.slice(0, 200))}`);
    const event = rest.slice(0, end);
    if (!event.startsWith("data: ") || event.includes("\n") || event.includes("\r"))
      throw new Error(`not a single "data: " line: ${JSON.stringify(event.slice(0, 200))}`);
    events.push(event.slice("data: ".length));
    rest = rest.slice(end + 2);
  }
  return events;
}

// The data of each event of a fetch() response body, as it arrives.
export async function* sseData(body) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      yield data;
    }
  }
  if (buffer.trim()) throw new Error(`the stream ended inside an event: ${JSON.stringify(buffer.slice(0, 200))}`);
}
