-- The entity store's single DynamoDB table (spec/ocr-geometry.md §4 "Table keys"): the body of
-- a CreateTable request without its TableName, for `rcpt store init` on DynamoDB.
--   keys PK, SK (strings); GSI1 (GSI1PK, GSI1SK), GSI2 (GSI2PK, GSI2SK), GSI3 (GSI3PK, GSI3SK),
--   GSITYPE (TYPE); every projection ALL; on-demand billing; a stream with NEW_AND_OLD_IMAGES
--   (compaction reads COMPACTION_RUN and RECEIPT_METADATA changes from it).
-- After CreateTable, `store init` also enables TTL on the attribute `time_to_live` (PlacesCache
-- rows, spec/merchant-embed-compaction.md §5.7) with UpdateTimeToLive: CreateTable cannot.
-- The same definition is tests/support/dynamodb_table.json, which the DynamoDB Local spec
-- creates and compares with this module: change both together.
return {
  AttributeDefinitions = {
    { AttributeName = "PK", AttributeType = "S" },
    { AttributeName = "SK", AttributeType = "S" },
    { AttributeName = "GSI1PK", AttributeType = "S" },
    { AttributeName = "GSI1SK", AttributeType = "S" },
    { AttributeName = "GSI2PK", AttributeType = "S" },
    { AttributeName = "GSI2SK", AttributeType = "S" },
    { AttributeName = "GSI3PK", AttributeType = "S" },
    { AttributeName = "GSI3SK", AttributeType = "S" },
    { AttributeName = "TYPE", AttributeType = "S" },
  },
  KeySchema = {
    { AttributeName = "PK", KeyType = "HASH" },
    { AttributeName = "SK", KeyType = "RANGE" },
  },
  GlobalSecondaryIndexes = {
    {
      IndexName = "GSI1",
      KeySchema = {
        { AttributeName = "GSI1PK", KeyType = "HASH" },
        { AttributeName = "GSI1SK", KeyType = "RANGE" },
      },
      Projection = {
        ProjectionType = "ALL",
      },
    },
    {
      IndexName = "GSI2",
      KeySchema = {
        { AttributeName = "GSI2PK", KeyType = "HASH" },
        { AttributeName = "GSI2SK", KeyType = "RANGE" },
      },
      Projection = {
        ProjectionType = "ALL",
      },
    },
    {
      IndexName = "GSI3",
      KeySchema = {
        { AttributeName = "GSI3PK", KeyType = "HASH" },
        { AttributeName = "GSI3SK", KeyType = "RANGE" },
      },
      Projection = {
        ProjectionType = "ALL",
      },
    },
    {
      IndexName = "GSITYPE",
      KeySchema = {
        { AttributeName = "TYPE", KeyType = "HASH" },
      },
      Projection = {
        ProjectionType = "ALL",
      },
    },
  },
  BillingMode = "PAY_PER_REQUEST",
  StreamSpecification = {
    StreamEnabled = true,
    StreamViewType = "NEW_AND_OLD_IMAGES",
  },
}
