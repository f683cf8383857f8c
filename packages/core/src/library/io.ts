/**
 * File-system failures described by what they are (ENOSPC, EROFS, EACCES, …) with the path, instead
 * of the platform's coarse reason (which reports a full disk or a read-only file system as "Unknown").
 */

const CODES: Record<string, string> = {
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EEXIST: "already exists",
  EDQUOT: "disk quota exceeded",
  EMFILE: "too many open files",
  EIO: "input/output error",
  ENAMETOOLONG: "file name too long",
  ELOOP: "too many symbolic links",
  EBUSY: "resource busy",
  EXDEV: "cross-device link",
}

/** The errno code (`ENOSPC`, …) somewhere in an error's cause chain, if any. */
export const errnoOf = (e: unknown): string | undefined => {
  let c: unknown = e
  for (let i = 0; i < 6 && typeof c === "object" && c !== null; i++) {
    const code = (c as { code?: unknown }).code
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code
    c = (c as { reason?: unknown; cause?: unknown }).reason ?? (c as { cause?: unknown }).cause
  }
  return undefined
}

/** One line for a platform (file-system) error: `ENOSPC (no space left on device): FileSystem.writeFile (/p)`. */
export const describeIo = (e: unknown): string => {
  const code = errnoOf(e)
  const r = (typeof e === "object" && e !== null ? ((e as { reason?: unknown }).reason ?? e) : e) as {
    _tag?: string
    module?: string
    method?: string
    pathOrDescriptor?: unknown
    description?: string
    message?: string
  }
  if (typeof r !== "object" || r === null || r.module === undefined) {
    const msg = String((r as { message?: unknown } | null)?.message ?? e)
    return code ? `${code} (${CODES[code] ?? "system error"}): ${msg}` : msg
  }
  const what = code ? `${code} (${CODES[code] ?? "system error"})` : (r._tag ?? "error")
  const where = r.pathOrDescriptor !== undefined ? ` (${String(r.pathOrDescriptor)})` : ""
  return `${what}: ${r.module}.${r.method}${where}${r.description ? `: ${r.description}` : ""}`
}
