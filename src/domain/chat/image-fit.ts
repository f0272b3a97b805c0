import type { Readable } from 'node:stream'

type Sharp = typeof import('sharp').default

/** Larger images are refused before decoding (a decompression bomb), as thumbnails do: 100 megapixels. */
const MAX_INPUT_PIXELS = 100_000_000
/** Longest sides tried, largest first, until the JPEG fits. */
const SIDES = [2048, 1600, 1280, 1024, 768, 512, 384, 256]

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
 * longest side brought down step by step (never enlarged) until it fits; the first frame of an
 * animation. Each try streams the original again from `open`, so it is never whole in memory.
 * Undefined when even the smallest step does not fit.
 */
export async function fitImage(open: () => Promise<Readable>, maxBytes: number): Promise<FittedImage | undefined> {
  const sharp = await loadSharp()
  for (const side of SIDES) {
    const source = await open()
    const pipeline = sharp({ limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
      .rotate()
      .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: side >= 1024 ? 82 : 75, mozjpeg: false })
    source.on('error', (error) => pipeline.destroy(error))
    const { data, info } = await source.pipe(pipeline).toBuffer({ resolveWithObject: true })
    if (data.length <= maxBytes) return { bytes: data, mediaType: 'image/jpeg', width: info.width, height: info.height }
  }
  return undefined
}
