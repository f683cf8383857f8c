import { ReferenceBackend } from "@spot/core"
import { conformanceSuite } from "@spot/core/testing"

// The reference backend against the interpreter it wraps: checks the Session plumbing (bound
// weights vs feeds) and keeps the suite itself honest.
conformanceSuite("reference", ReferenceBackend.layer, { runs: 5, parity: false })
