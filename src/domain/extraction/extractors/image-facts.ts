import type { ExtractionResult, ImageFacts } from '../extraction-types.js'
import { ExtractionFailure } from '../limits.js'

/** Bytes from the start of an image that hold its header and EXIF block in practice. */
export const IMAGE_HEAD_BYTES = 128 * 1024

/** How each format starts its EXIF block: JPEG's APP1 header, PNG's eXIf chunk, WebP's EXIF chunk. */
const EXIF_MARKERS = [Buffer.from('Exif\0\0', 'latin1'), Buffer.from('eXIf'), Buffer.from('EXIF')]

const FORMATS: Readonly<Record<string, string>> = { jpg: 'jpg', png: 'png', gif: 'gif', webp: 'webp' }

interface ExifFields {
  Orientation?: number
  DateTimeOriginal?: Date | string
  CreateDate?: Date | string
  latitude?: number
  longitude?: number
  GPSLatitude?: unknown
}

/** EXIF dates carry no zone: exifr reads them as local time, so print them back the same way. */
function localIso(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string') return value
  if (Number.isNaN(value.getTime())) return undefined
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${value.getFullYear()}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}T${pad(value.getHours())}:${pad(value.getMinutes())}:${pad(value.getSeconds())}`
}

/**
 * Format, pixel size, EXIF orientation, capture time and whether a GPS position is present,
 * from the image's first bytes only (header parsers, no decoding): cheap enough for the main thread.
 */
export async function extractImageFacts(head: Buffer): Promise<ExtractionResult> {
  const { imageSize } = await import('image-size')
  let size: { width?: number; height?: number; type?: string; orientation?: number }
  try {
    size = imageSize(head)
  } catch (error) {
    throw new ExtractionFailure(`Not a readable image: ${(error as Error).message}`, { cause: error })
  }
  const format = FORMATS[size.type === 'jpeg' ? 'jpg' : (size.type ?? '')]
  if (!format || !size.width || !size.height) throw new ExtractionFailure('Not a readable image: no dimensions in its header')
  let exif: ExifFields | undefined
  // Most images without EXIF would still cost exifr a walk through their chunks: skip those outright.
  if (EXIF_MARKERS.some((marker) => head.includes(marker))) exif = await readExif(head)
  const orientation = exif?.Orientation ?? size.orientation
  const capturedAt = localIso(exif?.DateTimeOriginal ?? exif?.CreateDate)
  const image: ImageFacts = {
    format,
    width: size.width,
    height: size.height,
    ...(orientation !== undefined ? { orientation } : {}),
    ...(capturedAt !== undefined ? { capturedAt } : {}),
    hasGps: exif?.GPSLatitude !== undefined || exif?.latitude !== undefined,
  }
  return { layout: 'none', parts: [], facts: { truncated: false, image } }
}

async function readExif(head: Buffer): Promise<ExifFields | undefined> {
  try {
    const { default: exifr } = await import('exifr')
    const options = { tiff: true, exif: true, gps: true, ifd1: false, xmp: false, icc: false, iptc: false, jfif: false, ihdr: false, translateValues: false, reviveValues: true }
    return (await exifr.parse(head, { ...options, pick: ['Orientation', 'DateTimeOriginal', 'CreateDate', 'GPSLatitude', 'GPSLongitude'] })) as ExifFields | undefined
  } catch {
    // A damaged EXIF block: the header facts stand on their own.
    return undefined
  }
}
