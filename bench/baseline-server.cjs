/* global require */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict'
// The design note's Express 4 + multer file server, as written there, for bench/run.js to compare Cabinet with.
// Differences from the note, only where the note leaves things out or hard-codes them:
// - STORAGE_DIR and PORT come from the environment (the bench gives each run a fresh folder and a free port);
// - it listens on 127.0.0.1 only;
// - saveFileMetadata/getFileMetadata, which the note leaves undefined, keep the records in an in-memory Map.
// - Only when BASELINE_FSYNC=1 (not by default): the stored file and its folder are fsynced before the reply, which
//   the note does not do; the bench uses it to show what durability alone costs the note's design.
const express = require('express')
const multer = require('multer')
const path = require('path')
const crypto = require('crypto')
const fs = require('fs')

const app = express()
const STORAGE_DIR = process.env.STORAGE_DIR
const PORT = Number(process.env.PORT || 3001)
if (!STORAGE_DIR) throw new Error('STORAGE_DIR is required')

const metadataById = new Map()
function saveFileMetadata(record) {
  metadataById.set(record.id, record)
}
function getFileMetadata(id) {
  return metadataById.get(id)
}

// Configure upload handling
const storage = multer.diskStorage({
  destination: STORAGE_DIR,
  filename: (req, file, cb) => {
    const hash = crypto.randomBytes(16).toString('hex')
    const ext = path.extname(file.originalname)
    cb(null, `${hash}${ext}`)
  },
})

const upload = multer({
  storage,
  limits: { fileSize: 10 * 1024 * 1024 }, // 10MB
  fileFilter: (req, file, cb) => {
    const allowed = ['.jpg', '.jpeg', '.png', '.pdf', '.doc', '.docx', '.xlsx']
    const ext = path.extname(file.originalname).toLowerCase()
    cb(null, allowed.includes(ext))
  },
})

// Upload endpoint
app.post('/api/files/upload', upload.single('file'), (req, res) => {
  if (!req.file) {
    return res.status(400).json({ error: 'No file uploaded or invalid type' })
  }
  const fileRecord = {
    id: path.parse(req.file.filename).name,
    original_name: req.file.originalname,
    size: req.file.size,
    mime_type: req.file.mimetype,
    uploaded_at: new Date().toISOString(),
    user_id: req.headers['x-user-id'],
  }
  // Save metadata
  saveFileMetadata(fileRecord)
  const reply = () =>
    res.json({
      file_id: fileRecord.id,
      download_url: `/api/files/${fileRecord.id}`,
      size: fileRecord.size,
    })
  if (process.env.BASELINE_FSYNC !== '1') return reply()
  fsyncPath(req.file.path, () => fsyncPath(STORAGE_DIR, reply))
})

function fsyncPath(target, done) {
  fs.open(target, 'r', (openError, fd) => {
    if (openError) return done()
    fs.fsync(fd, () => fs.close(fd, () => done()))
  })
}

// Download endpoint
app.get('/api/files/:fileId', (req, res) => {
  const metadata = getFileMetadata(req.params.fileId)
  if (!metadata) {
    return res.status(404).json({ error: 'File not found' })
  }
  const filePath = path.join(STORAGE_DIR, `${req.params.fileId}${path.extname(metadata.original_name)}`)
  res.download(filePath, metadata.original_name)
})

app.listen(PORT, '127.0.0.1', () => console.log(`File storage API running on :${PORT}`))
