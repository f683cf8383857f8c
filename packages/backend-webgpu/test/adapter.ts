/**
 * Test environment for dawn.node without a GPU: SwiftShader's Vulkan driver from Debian's chromium,
 * set before the first adapter is requested. `SPOT_WEBGPU_NATIVE=1` keeps the machine's own driver.
 */
import { existsSync } from "node:fs"

export const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json"

export const useSoftwareAdapter = () => {
  if (!process.env.VK_ICD_FILENAMES && !process.env.SPOT_WEBGPU_NATIVE && existsSync(SWIFTSHADER)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER
  }
}
