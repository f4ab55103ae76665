-- The default OCR pipeline (RCPT_PIPELINE=default): stages of step names;
-- a step is lua/rcpt/steps/<name>.lua returning function(ctx).  Edit a copy
-- under RCPT_LUA_PATH / --lua to change the flow without a rebuild.
--
-- rcpt.ocr_job runs, per OCR results message:
--   first_pass     for a FIRST_PASS job (spec/ocr-geometry.md §8.1-§8.3): the
--                  image-level rows, the image, the layout, then exactly one of
--                  native / photo / scan acts (each checks ctx.image_type)
--   refinement     for a REFINEMENT job (§8.4): the crop's OCR becomes the
--                  receipt's ReceiptLine/Word/Letter
--   after_receipt  once a receipt's own OCR rows are final (NATIVE receipt 1,
--                  every REFINEMENT), with ctx.receipt_ids set; the routing
--                  decision is already COMPLETED, so a failure here never
--                  loses the OCR data (DESIGN.md, Flow 3)
return {
  first_pass = { "store_ocr", "load_image", "classify", "native", "photo", "scan" },
  refinement = { "refine" },
  -- DESIGN.md Flow 3 (rcpt.merchant_embed): Places when a key is set (drop
  -- "enable_places" to resolve without it), merchant resolution ->
  -- ReceiptMetadata, line and word embeddings with the merchant -> one delta
  -- per collection + a CompactionRun, then (RCPT_COMPACT_AFTER, on locally)
  -- compaction.  Failures here are reported, never fail the record.
  after_receipt = { "enable_places", "resolve_merchant", "embed_receipt", "write_deltas", "compact_local" },
}
