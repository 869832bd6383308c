"""Stage 4, compile: a FineTuneSpec (plus portal facts) → the exact SCOW-AI job payload."""
