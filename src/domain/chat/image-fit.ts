import type { Readable } from 'node:stream'

type Sharp = typeof import('sharp').default

/** Larger images are refused before decoding (a decompression bomb), as thumbnails do: 100 megapixels. */
const MAX_INPUT_PIXELS = 100_000_000
/** Longest sides a downsized image may have, largest first. */
const SIDES = [2048, 1792, 1536, 1280, 1024, 896, 768, 640, 512, 448, 384, 320, 256]

let sharpModule: Promise<Sharp> | undefined

/** sharp, loaded on the first image that needs it (libvips stays on the main thread, as for thumbnails). */
function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((module) => module.default)
  return sharpModule
}

/** An image made smaller to fit a byte limit. */
export interface FittedImage {
  readonly bytes: Buffer
  readonly mediaType: 'image/jpeg'
  readonly width: number
  readonly height: number
}

/**
 * The image as a JPEG of at most `maxBytes`: EXIF orientation applied, metadata stripped, the
 * longest side brought down (never enlarged) until it fits; the first frame of an animation.
 * After a try that is too big, the next side is estimated from how far off it was (bytes grow
 * with the pixel count), so it takes two or three tries. Each try streams the original again
 * from `open`, so it is never whole in memory. Undefined when even the smallest side does not fit.
 */
export async function fitImage(open: () => Promise<Readable>, maxBytes: number, options: { longestSide?: number } = {}): Promise<FittedImage | undefined> {
  const sharp = await loadSharp()
  let side = Math.min(SIDES[0]!, options.longestSide ?? SIDES[0]!)
  for (;;) {
    const source = await open()
    const pipeline = sharp({ limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
      .rotate()
      .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 80 })
    source.on('error', (error) => pipeline.destroy(error))
    const { data, info } = await source.pipe(pipeline).toBuffer({ resolveWithObject: true })
    if (data.length <= maxBytes) return { bytes: data, mediaType: 'image/jpeg', width: info.width, height: info.height }
    const actual = Math.max(info.width, info.height)
    const estimate = actual * Math.sqrt(maxBytes / data.length)
    const smallest = SIDES.at(-1)!
    // Below the smallest side, that side is the last try: one more decode, not every step down.
    const next = SIDES.find((candidate) => candidate <= estimate && candidate < actual) ?? (smallest < actual ? smallest : undefined)
    if (next === undefined) return undefined
    side = next
  }
}
