-- The original three-stage flow (RCPT_PIPELINE=legacy; spec §1 B): the OCR
-- job exports each final receipt's rows as NDJSON and queues an embed
-- message; a separate consumer (rcpt.embed_ndjson: the embed Lambda, or
-- locally `rcpt ingest` / `rcpt embed-worker`) does merchant + embeddings.
--
--   first_pass, refinement   as in default.lua
--   after_receipt            NATIVE receipt 1 and every REFINEMENT: export + queue
--   embed_ndjson             per embed message, over the rows read from NDJSON
return {
  first_pass = { "store_ocr", "load_image", "classify", "native", "photo", "scan" },
  refinement = { "refine" },
  after_receipt = { "export_ndjson" },
  embed_ndjson = { "enable_places", "resolve_merchant", "embed_receipt", "write_deltas", "compact_local" },
}
