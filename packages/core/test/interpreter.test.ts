import { ReferenceBackend } from "@spot/core"
import { conformanceSuite } from "@spot/core/testing"

// The reference interpreter (the oracle), run through the backend conformance suite as the reference
// backend: every op against the suite's independently computed cases, the Session plumbing (bound
// weights vs feeds), and the suite itself kept honest.
conformanceSuite("reference", ReferenceBackend.layer, { runs: 5, parity: false })
