"""Stage 2, validate: a Document in, Diagnostics out. Schema first, then LLaMA-Factory and SCOW rules."""
