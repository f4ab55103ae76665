-- Step: Google Places for merchant resolution, when GOOGLE_PLACES_API_KEY
-- (or RCPT_PLACES_API_KEY) is set; PlacesCache rows in the entity store.
-- Remove it from a pipeline to resolve from the vector store and the
-- receipt's own text only (no Places call whatever the environment says).
return function(ctx)
  require("rcpt.merchant_embed").enable_places(ctx)
end
