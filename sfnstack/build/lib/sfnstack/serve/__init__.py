"""``sfnstack serve``: a local S3 + Step Functions API endpoint backed by the local runtime,
with the template's three triggers (upload, schedule, start API) and persistence."""
