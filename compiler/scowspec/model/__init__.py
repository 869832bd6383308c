"""Stage 3, model: a valid spec as typed, frozen values."""
