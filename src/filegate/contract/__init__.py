"""The API's contract: the error schema, security schemes, the OpenAPI document and /docs."""
