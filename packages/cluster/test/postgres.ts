/**
 * A throwaway PostgreSQL cluster for tests: `initdb` + `pg_ctl` in a temp folder, listening on a
 * free port of 127.0.0.1 (and a unix socket in the folder), stopped and deleted afterwards. Needs
 * Debian's `postgresql` package (`.ci/run` installs it). As root, the server runs as the `postgres`
 * user, which owns the folder.
 */
import { execFileSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const binDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a))
  for (const v of versions) if (existsSync(join(root, v, "bin", "pg_ctl"))) return join(root, v, "bin")
  return undefined
}

export const postgresAvailable = () => binDir() !== undefined

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

export interface Postgres {
  readonly url: string
  readonly dir: string
  readonly port: number
  readonly stop: () => void
  readonly restart: () => void
  readonly createDatabase: (name: string) => string
}

export const startPostgres = async (): Promise<Postgres> => {
  const bin = binDir()
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)")
  const dir = mkdtempSync(join(tmpdir(), "spot-pg-"))
  chmodSync(dir, 0o777)
  const data = join(dir, "data")
  const asRoot = process.getuid?.() === 0
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync("runuser", ["-u", "postgres", "--", join(bin, cmd), ...args], { stdio: "pipe" })
      : execFileSync(join(bin, cmd), args, { stdio: "pipe" })
  run("initdb", ["-D", data, "-A", "trust", "-U", "spot", "--no-sync", "-E", "UTF8"])
  const port = await freePort()
  const start = () =>
    run("pg_ctl", [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-w",
      "-o",
      `-p ${port} -k ${dir} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      "start",
    ])
  const stopServer = () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
  start()
  const url = `postgres://spot@127.0.0.1:${port}/postgres`
  return {
    url,
    dir,
    port,
    stop: () => {
      try {
        stopServer()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    restart: () => {
      stopServer()
      start()
    },
    createDatabase: (name: string) => {
      execFileSync(
        join(bin, "psql"),
        ["-h", "127.0.0.1", "-p", String(port), "-U", "spot", "-d", "postgres", "-c", `CREATE DATABASE "${name}"`],
        {
          stdio: "pipe",
        },
      )
      return `postgres://spot@127.0.0.1:${port}/${name}`
    },
  }
}
