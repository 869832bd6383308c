"""Stage 1, load: files in, YAML documents with source positions out."""
