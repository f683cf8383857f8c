// A static server for the browser example: the page, its bundle and library, and the models
// @spot/experiments ships (packages/experiments/models/, served at /models/). WebGPU needs a secure
// context; http://localhost is one.
//   node examples/browser/serve.mjs [port]    then open http://localhost:8080/
import { createReadStream, existsSync, statSync } from "node:fs"
import { createServer } from "node:http"
import { extname, join, normalize } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../", import.meta.url))
const here = join(root, "examples/browser")
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json", ".map": "application/json" }

export const serve = (port = 8080) =>
  new Promise((resolve) => {
    const server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname))
      if (path.includes("..")) return res.writeHead(400).end()
      const file =
        path === "/"
          ? join(here, "index.html")
          : path.startsWith("/models/")
            ? join(root, "packages/experiments", path)
            : join(here, path)
      if (!existsSync(file) || !statSync(file).isFile()) return res.writeHead(404).end(`not found: ${path}`)
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" })
      createReadStream(file).pipe(res)
    })
    server.listen(port, "127.0.0.1", () => resolve(server))
  })

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080))
  console.log(`http://localhost:${server.address().port}/`)
}
