/** Backend selection for the CLI: a name → a Layer providing the core `Backend` service. */
import { ReferenceBackend } from "@spot/core"

export const BACKENDS = ["reference"] as const
export type BackendName = (typeof BACKENDS)[number]

export const backendLayer = (_name: BackendName) => ReferenceBackend.layer
