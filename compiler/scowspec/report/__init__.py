"""What a finished (or running) job leaves behind, read back: LLaMA-Factory's trainer_log.jsonl and scowspec's verify.json."""
