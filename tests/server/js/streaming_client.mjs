// A lean streaming client for many concurrent requests: node:http over the caller's pool of
// keep-alive connections (fetch would pool them its own way), checking every stream as it goes.
import http from "node:http";

// One streamed request over the shared connection pool. Resolves with what the stream held; any
// deviation from a complete, well-formed stream rejects.
export function streamOnce(baseUrl, connections, body, path) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = http.request(`${baseUrl}${path}`, {
      method: "POST", agent: connections, headers: { "Content-Type": "application/json" }, timeout: 120_000,
    }, (response) => {
      if (response.statusCode !== 200) {
        let text = "";
        response.on("data", (d) => { text += d; });
        response.on("end", () => reject(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`)));
        return;
      }
      let buffer = "", ttft = null, done = false, usage = null;
      response.setEncoding("utf8");
      response.on("data", (text) => {
        buffer += text;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith("data: ")) return request.destroy(new Error(`bad event ${event.slice(0, 80)}`));
          const data = event.slice(6);
          if (done) return request.destroy(new Error("data after [DONE]"));
          if (data === "[DONE]") { done = true; continue; }
          let chunk;
          try {
            chunk = JSON.parse(data);
          } catch {
            return request.destroy(new Error(`not JSON: ${data.slice(0, 80)}`));
          }
          if (chunk.error) return request.destroy(new Error(`error event: ${data.slice(0, 200)}`));
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (ttft === null && choice && (choice.text || choice.delta?.content)) ttft = performance.now() - started;
        }
      });
      response.on("end", () => {
        if (!done) return reject(new Error("the stream ended without [DONE]"));
        if (buffer) return reject(new Error(`bytes after the last event: ${buffer.slice(0, 80)}`));
        if (!usage) return reject(new Error("no usage chunk"));
        resolve({ ttft, tokens: usage.completion_tokens });
      });
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error("no progress for 120 s")));
    request.on("error", reject);
    request.end(JSON.stringify(body));
  });
}
